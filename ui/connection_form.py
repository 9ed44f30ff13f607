"""The Add and Edit dialogs' form, built from the provider's fields (:mod:`ui.connection_dialogs`
holds the dialogs around it).

Every field of the registry entry, in its order: a secret in a password input that
starts empty (in the Edit dialog, empty keeps the stored one), the others with their
default or stored value.  A field that may be left empty says "(optional)" in its
label; a field with a pattern says what a good value looks like in its help.  Each
input has a slot under it where its error shows.

A stored secret is only sent to where it was saved for (the provider's destination
fields: a base URL, Azure's endpoint, Bedrock's region and endpoint).  When an edit
changes one, the core says every stored secret must be typed again
(``service.needs_key_again``), and every text about a secret says so, naming the
field that changed: the header, each secret's placeholder and help, and the warning
under each secret still empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from connections_core import ConfigField, Connection, ConnectionService, Provider

#: field name -> the slot under that field where its error shows ("" for the rest)
Slots = dict[str, DeltaGenerator]


@dataclass(frozen=True)
class KeyAgain:
    """What an edit may keep: the connection's stored secrets, and the destination fields
    the form changed (none: every stored secret may be left empty, and is kept)."""

    stored: tuple[ConfigField, ...] = ()
    moved: tuple[ConfigField, ...] = ()

    @property
    def needed(self) -> bool:
        """Whether the stored secrets must be typed again."""
        return bool(self.stored and self.moved)

    @property
    def what(self) -> str:
        """The fields that changed, as a sentence says them: ``region and endpoint``."""
        return " and ".join(in_a_sentence(field.label) for field in self.moved)


def config_form(provider: Provider, existing: Connection | None = None,
                key_again: KeyAgain = KeyAgain()) -> tuple[str, dict[str, str], Slots]:
    """The name and config inputs, each with a slot for its error under it."""
    name = st.text_input("Name", value=existing.name if existing else "", key="conn_form_name",
                         placeholder=f"e.g. {provider.display_name} (work)")
    slots: Slots = {"name": st.empty()}
    config: dict[str, str] = {}
    for field in provider.fields:
        config[field.name] = _input(provider, field, existing, key_again)
        slots[field.name] = st.empty()
    slots[""] = st.empty()
    return name, config, slots


def _input(provider: Provider, field: ConfigField, existing: Connection | None,
           key_again: KeyAgain) -> str:
    label = field.label if field.required or field.default is not None \
        else f"{field.label} (optional)"
    help = " ".join(filter(None, (field.help, field.pattern_hint
                                  and f"Like {field.pattern_hint}."))) or None
    if not field.secret:
        return st.text_input(label, value=_initial(field, existing), key=form_key(provider, field),
                             placeholder=field.placeholder, help=help)
    placeholder = field.placeholder
    if existing is not None and field in key_again.stored:
        placeholder = f"Leave empty to keep {existing.config.get(field.name)}"
        if key_again.needed:
            placeholder = f"Enter the {in_a_sentence(field.label)} again for the new " \
                          f"{key_again.what}"
            help = " ".join(filter(None, (f"A stored key is only sent to the address it was "
                                          f"saved for, so a new {key_again.what} needs it "
                                          "typed again.", field.help)))
    return st.text_input(label, key=form_key(provider, field), type="password",
                         placeholder=placeholder, help=help)


def form_key(provider: Provider, field: ConfigField) -> str:
    """The widget key of a field's input: one per provider and field, so switching the
    Add dialog's provider never carries a value over."""
    return f"conn_form_{provider.type}_{field.name}"


def _initial(field: ConfigField, existing: Connection | None) -> str:
    """What a field that holds no secret shows when the form opens."""
    return str(existing.config.get(field.name, "") if existing else field.default or "")


# -- what an edit keeps -----------------------------------------------------------------

def key_again(service: ConnectionService, provider: Provider,
              existing: Connection) -> KeyAgain:
    """The connection's stored secrets, and the destination fields the form (as typed so
    far: asked before the form is drawn) changes so that they can't be kept.  The core
    decides, for all of them and then for each field alone, so the form names it."""
    stored = tuple(f for f in provider.fields
                   if f.secret and existing.config.get(f"has_{f.name}") is True)
    typed = {field.name: st.session_state.get(form_key(provider, field),
                                              _initial(field, existing))
             for field in provider.fields if not field.secret}
    if not stored or not service.needs_key_again(existing.id, typed):
        return KeyAgain(stored)
    destination = [f for name in provider.destination if (f := provider.field(name))]
    moved = tuple(f for f in destination
                  if service.needs_key_again(existing.id, {f.name: typed.get(f.name, "")}))
    return KeyAgain(stored, moved or tuple(destination))


def key_header(key_again: KeyAgain) -> str | None:
    """The line above the form about the stored secrets (None when there are none)."""
    if not key_again.stored:
        return None
    labels = " and ".join(in_a_sentence(f.label) for f in key_again.stored)
    if not key_again.needed:
        ones = "one" if len(key_again.stored) == 1 else "ones"
        return f"Leave the {labels} empty to keep the stored {ones}."
    keys = "key" if len(key_again.stored) == 1 else "keys"
    return f"The {key_again.what} changed, so the stored {keys} can't be kept: enter the " \
           f"{labels} again."


def ask_for_the_key_again(key_again: KeyAgain, config: dict[str, str], slots: Slots) -> None:
    """Under each stored secret left empty, why it is needed now.  Save's refusal, if it
    comes, takes the same place, so the reason shows once."""
    if not key_again.needed:
        return
    for field in key_again.stored:
        if not config.get(field.name):
            slots[field.name].warning(
                f"The {key_again.what} changed, so enter the {in_a_sentence(field.label)} "
                "again: a stored key is only sent to the address it was saved for.",
                icon=":material/key:")


def in_a_sentence(label: str) -> str:
    """A field's label inside a sentence: ``base URL``, ``secret access key``, but
    ``API key`` (an initialism keeps its capitals)."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]
