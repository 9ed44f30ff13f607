"""Key rotation: re-encrypting every stored secret with the current key."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from . import crypto
from .alerts import resealed_webhook, webhook_residue
from .errors import DecryptionError
from .models import ResidualSecret
from .records import destination_text, secret_context, secret_fields, text_or
from .scope import Room
from .storage import Transaction

log = logging.getLogger(__name__)

Record = dict[str, Any]
#: What a workspace's alert webhook is called among the residual secrets.
WEBHOOK_NAME = "Alert webhook"


class KeyRotation(Room):
    """Rotation of the store's keys (it spans every workspace)."""

    def rotate_keys(self, *, reseal: Iterable[ResidualSecret] = ()) -> int:
        """Re-encrypt every stored secret, in every workspace (deleted connections
        too, and each workspace's alert webhook), with the current key, bound to its
        record.

        An old unbound (``v1``) secret is never used: nothing shows it was saved for
        the base URL beside it, which anyone who can write the store could have set.
        It is re-sealed (bound to its record and that base URL) only when it is in
        ``reseal``, the unbound secrets an operator was shown (see
        :meth:`residual_secrets`: workspace, name, base URL) and agreed to, and only
        while it still points where it did then; any other is left as it is.  All
        or nothing: if one secret can't be decrypted, nothing is written.  Only
        trusted code and instance admins may rotate.

        :returns: how many secrets were re-encrypted.
        :raises DecryptionError: naming the record whose secret can't be decrypted.
        """
        self.scope.authorize("rotate_keys")
        agreed = {(r.workspace_id, r.id, r.field, r.base_url) for r in reseal
                  if r.reason == "unbound"}
        #: workspace -> [secrets re-encrypted, of which old unbound ones re-sealed]
        counts: dict[str, list[int]] = {self.scope.workspace_id: [0, 0]}

        with self.records.transaction() as tx:
            # An error in the middle leaves the transaction unfinished: it is then
            # rolled back, and nothing was re-encrypted.
            resealed = []
            for doc in tx.connections(None):
                if not secret_fields(doc) or not isinstance(doc.get("workspace_id"), str) \
                        or not isinstance(doc.get("id"), str):
                    continue  # nothing to re-encrypt, or nothing could address it
                self._reseal(doc, agreed, counts)
                resealed.append((doc["workspace_id"], doc["id"], {"config": doc["config"]}))
            tx.update_connections(resealed)
            self._reseal_webhooks(tx, counts)
            self.records.write_key_check(tx)
            # An entry in every workspace whose keys were re-encrypted (and this one):
            # each workspace's Activity shows what happened to its keys.
            for workspace, (count, unbound) in sorted(counts.items()):
                self.records.in_workspace(workspace).audit(
                    tx, "keys.rotated", None, count=count, resealed_unbound=unbound)
        count = sum(c for c, _ in counts.values())
        log.info("Re-encrypted %d secrets with the current key (%d old unbound ones "
                 "re-sealed)", count, sum(u for _, u in counts.values()))
        return count

    def _reseal(self, doc: Record, agreed: set[tuple[str, str, str, str | None]],
                counts: dict[str, list[int]]) -> None:
        """Re-encrypt ``doc``'s secrets in place with the current key, and count them
        in ``counts`` (workspace -> [re-encrypted, of which old unbound ones]).  An old
        unbound secret is opened only when it is in ``agreed``."""
        opened = {}
        resealed_unbound = 0
        for field in secret_fields(doc):
            token = doc["config"].get(field)
            unbound = crypto.is_encrypted(token) and not crypto.is_bound(token)
            if unbound and (doc["workspace_id"], doc["id"], field,
                            destination_text(doc)) not in agreed:
                continue  # never opened: left for an operator to look at
            try:
                opened[field] = self.records.open_secret(doc, field, reseal=unbound)
            except DecryptionError as error:
                raise DecryptionError(
                    f"{error} It is in workspace '{doc.get('workspace_id')}'. Nothing "
                    "was re-encrypted.", error.record_id) from None
            resealed_unbound += unbound
        doc["config"] = {**doc["config"], **{
            field: self.records.keyring.encrypt(value, secret_context(doc, field))
            for field, value in opened.items()}}
        if opened:
            counted = counts.setdefault(doc["workspace_id"], [0, 0])
            counted[0] += len(opened)
            counted[1] += resealed_unbound

    def _reseal_webhooks(self, tx: Transaction, counts: dict[str, list[int]]) -> None:
        """Re-encrypt each workspace's alert webhook (a secret too: its URL carries a
        token) with the current key, counted as a secret of its workspace."""
        for settings in tx.workspace_settings(None):
            workspace = settings.get("workspace_id")
            if not isinstance(workspace, str):
                continue  # nothing could address it
            try:
                sealed = resealed_webhook(self.records.keyring, settings)
            except DecryptionError as error:
                raise DecryptionError(f"{error} Nothing was re-encrypted.") from None
            if sealed is not None:
                tx.put_workspace_settings({**settings, "alert_webhook": sealed})
                counts.setdefault(workspace, [0, 0])[0] += 1

    def residual_secrets(self) -> list[ResidualSecret]:
        """The stored secrets, in every workspace (deleted connections and alert webhooks
        too), that the current key alone can't serve: what :meth:`rotate_keys` would still have to
        re-encrypt, or can't, each with the base URL beside it.  Empty after a
        complete rotation.  Only trusted code and instance admins may ask.
        """
        self.scope.authorize("residual_secrets")
        found: list[ResidualSecret] = []
        for row in self.records.rows(every_workspace=True):
            for field in secret_fields(row):
                reason = self.records.residue(row, field)
                if reason is not None:
                    found.append(ResidualSecret(
                        workspace_id=text_or(row.get("workspace_id"), "?"),
                        name=text_or(row.get("name"), "(no name)"),
                        id=text_or(row.get("id"), "?"), field=field, reason=reason,
                        base_url=destination_text(row)))
        for settings in self.records.store.workspace_settings():
            reason = webhook_residue(self.records.keyring, settings)
            if reason is not None:
                found.append(ResidualSecret(
                    workspace_id=text_or(settings.get("workspace_id"), "?"),
                    name=WEBHOOK_NAME, id="settings", field="alert_webhook", reason=reason))
        return sorted(found, key=lambda r: (r.workspace_id, r.name, r.id, r.field))
