"""Settings' Application access section, for a workspace's admins: make a token for an
application (its name, the provider types it may read, how long it lasts), see its
secret once with a copy button and a ``curl`` line, list the tokens with their last
use, and revoke one.  Others don't see the section (the core refuses them anyway).

The secret is shown only right after it is made, until *Done* is pressed: it is kept
in this session alone meanwhile, in no widget's value, and only its hash is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from connections_core import (
    PROVIDERS,
    AppToken,
    ConnectionService,
    ValidationError,
    is_demo,
)
from ui.confirm import confirm_dialog
from ui.errors import show_error
from ui.format import md, relative_time
from ui.notices import notify

NAME, TYPES, EXPIRY = "settings_tokens_name", "settings_tokens_types", "settings_tokens_expiry"
MADE = "settings_tokens_made"  # (token, secret) of the token just made: shown until Done
REVOKING = "settings_tokens_revoking"  # the id of the token whose Revoke dialog is open
EXPIRIES = {"30 days": 30, "90 days": 90, "180 days": 180, "1 year": 365}
ABOUT = ("An application token lets one application read this workspace's default "
         "connections of the types you choose, over this server's API "
         "(`GET /api/v1/credentials/{type}`), without the encryption key. Each use is in "
         "Activity; revoke a token and it stops working at once.")


def app_access_section(service: ConnectionService) -> None:
    """The section, for those who may manage tokens; nothing for the others."""
    if not service.can("app_tokens"):
        return
    st.subheader("Application access")
    st.caption(ABOUT)
    if is_demo(service):
        st.markdown("The demo's connections point at stand-ins on this machine: make "
                    "application tokens in your own workspace.")
        return
    made = st.session_state.get(MADE)
    if made is not None:
        _show_once(*made)
    else:
        _create_form(service)
    _token_list(service)


def _create_form(service: ConnectionService) -> None:
    with st.form("settings_tokens_form", border=True, enter_to_submit=False):
        st.text_input("Application name", key=NAME, placeholder="billing-worker",
                      help="Who uses it: Activity names each use by it.")
        st.multiselect("Provider types it may read", list(PROVIDERS), key=TYPES,
                       format_func=lambda t: PROVIDERS[t].display_name,
                       placeholder="Every type", help="Leave empty for every type.")
        st.selectbox("Expires after", list(EXPIRIES), index=1, key=EXPIRY)
        create = st.form_submit_button("Create token", icon=":material/key:")
        problem = st.container()
    if not create:
        return
    try:
        token, secret = service.create_app_token(
            st.session_state[NAME], types=st.session_state[TYPES] or None,
            expires_in=timedelta(days=EXPIRIES[st.session_state[EXPIRY]]))
    except ValidationError as error:
        show_error(" ".join(error.field_errors.values()) or error, where=problem)
        return
    st.session_state[MADE] = (token, secret)
    st.session_state.pop(NAME, None)
    st.session_state.pop(TYPES, None)
    st.rerun()


def _show_once(token: AppToken, secret: str) -> None:
    """The secret of the token just made, a ``curl`` line for a type it may read, and
    Done (which forgets it)."""
    type = (token.types or ("openai",))[0]
    with st.container(border=True):
        st.markdown(f"**Token for {md(token.name)}.** Copy it now: it is shown only this once "
                    "(only its hash is kept).")
        st.code(secret, language=None)
        base = _server_url()
        st.caption("Give it to the application as `CONNECTIONS_TOKEN`, with "
                   f"`CONNECTIONS_URL={base}`. To try it:")
        st.code(f'curl -H "Authorization: Bearer $CONNECTIONS_TOKEN" '
                f"{base}/api/v1/credentials/{type}", language="bash")
        if st.button("Done, I have copied it", key="settings_tokens_done",
                     icon=":material/done:"):
            st.session_state.pop(MADE, None)
            st.rerun()


def _server_url() -> str:
    """This server's address as the browser reached it (what an application on the
    same network would use), without the page's path."""
    url = st.context.url or "http://localhost:8501"
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if rest else url


def _token_list(service: ConnectionService) -> None:
    tokens = service.app_tokens()
    if not tokens:
        st.caption("No application tokens yet.")
        return
    now = datetime.now(UTC)
    for token in tokens:
        status = token.status(now)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(_describe(token, status), width="stretch")
            if status == "active":
                st.button("Revoke", key=f"settings_tokens_revoke_{token.id}",
                          icon=":material/block:",
                          on_click=lambda id=token.id: st.session_state.update({REVOKING: id}))
    revoking = next((t for t in tokens if t.id == st.session_state.get(REVOKING)), None)
    if revoking is not None:
        confirm_dialog(f"Revoke the token for {revoking.name}?",
                       f"**{md(revoking.name)}** will be refused from now on, on every "
                       "replica; the application needs a new token to read credentials.",
                       "Revoke", lambda: _revoke(service, revoking),
                       key="settings_tokens_revoke",
                       on_close=lambda: st.session_state.pop(REVOKING, None),
                       icon=":material/block:")


def _describe(token: AppToken, status: str) -> str:
    types = ", ".join(PROVIDERS[t].display_name if t in PROVIDERS else t
                      for t in token.types) if token.types else "every type"
    used = (f"last used {relative_time(token.last_used_at)}" if token.last_used_at
            else "never used")
    if status == "revoked" and token.revoked_at is not None:
        state = f":gray[revoked {relative_time(token.revoked_at)}]"
    elif status == "expired":
        state = f":gray[expired {relative_time(token.expires_at)}]"
    else:
        state = f"expires on {token.expires_at.date().isoformat()}"
    return (f"**{md(token.name)}** · {md(types)}  \n"
            f":small[made by {md(token.created_by)} {relative_time(token.created_at)} · "
            f"{used} · {state}]")


def _revoke(service: ConnectionService, token: AppToken) -> None:
    service.revoke_app_token(token.id)
    notify(f"Revoked the token for **{md(token.name)}**.", icon=":material/block:")
