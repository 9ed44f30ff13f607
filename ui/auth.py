"""Sign-in, through Streamlit's own ``st.login()``, ``st.user`` and ``st.logout()``.

Sign-in is on when ``st.secrets`` has an ``[auth]`` section, and off otherwise:
then the app runs open, as trusted code (the actor is None).  When it is on,
:func:`signed_in_email` is the gate every run passes first: anyone not signed in
gets a page instead of the app, and the run stops.

What Streamlit 1.67 does and does not do, and so what this module does:

- After a sign-in, ``st.user`` holds the ID token's claims (``email``,
  ``email_verified`` when the provider sends it, ``exp``, ...) and
  ``is_logged_in``.  With no ``[auth]`` section it has no ``is_logged_in`` at
  all, so it is read with ``.get``.
- Its identity cookie lasts 30 days and it never checks ``exp``: a token past
  its ``exp`` means signing in again here.
- It keeps no session on the server: ``st.logout()`` ends the tab it is called
  in, and another tab, or a copy of the cookie, stays signed in.  So "Sign out"
  also records the time in the store (``ConnectionService.sign_out``), and
  :func:`refuse_an_ended_session`, the gate's second step once the store is
  open, turns away every identity issued (``iat``) at or before it.
- A bad ``[auth]`` section only fails when ``st.login()`` is called, with a
  message about ``secrets.toml`` (or, for a bad ``redirect_uri``, not at all:
  the provider's answer is silently dropped).  So the settings are checked here,
  on every run, before anything else.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Mapping
from typing import Any, Literal, NoReturn

import streamlit as st
from streamlit.errors import StreamlitAuthError

from connections_core import ConnectionService, email_verified, normalized_email
from ui.errors import show_error
from ui.format import md

PRODUCT = "connections"
SETTINGS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
CALLBACK = "/oauth2callback"
#: Streamlit signs its identity cookie with ``cookie_secret``: a short one can be guessed,
#: and whoever guesses it can sign in as anyone.
MIN_COOKIE_SECRET = 32

Status = Literal["signed_out", "expired", "no_email", "unverified", "signed_in"]

SETUP_HELP = f"""
Sign-in is set up in the `[auth]` section of `.streamlit/secrets.toml`:

```toml
[auth]
redirect_uri = "https://dashboard.example.com{CALLBACK}"  # this app's address + {CALLBACK}
cookie_secret = "..."        # python -c "import secrets; print(secrets.token_hex(32))"
client_id = "..."            # from your OpenID Connect provider
client_secret = "..."
server_metadata_url = "https://accounts.example.com/.well-known/openid-configuration"
```

Fix it, then restart the app. To run without sign-in, remove the `[auth]` section.
"""


def sign_in_enabled() -> bool:
    """Whether ``st.secrets`` has an ``[auth]`` section."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def signed_in_email() -> str | None:
    """The gate: the signed-in person's e-mail (as the core compares addresses: ASCII
    letters in lower case), or None when sign-in is off.

    Anyone else gets a page instead of the app, and the run stops there: the
    sign-in page (saying so when a session expired), a refusal (an e-mail the
    provider did not verify), or what is wrong with the ``[auth]`` settings.
    """
    if not sign_in_enabled():
        return None
    problems = settings_problems(st.secrets["auth"])
    if problems:
        _misconfigured_page(problems)
    user = st.user.to_dict()
    status = sign_in_status(user, time.time())
    if status == "signed_in":
        return normalized_email(str(user["email"]))
    if status in ("signed_out", "expired"):
        _sign_in_page(expired=status == "expired")
    _refused_page(user, status)


def refuse_an_ended_session(service: ConnectionService) -> None:
    """The gate's second step, on every run once the store is open: an identity
    issued before its person last signed out (in another tab or browser) or was
    removed from a workspace gets the sign-in page, saying so, and the run stops."""
    if service.session_ended(st.user.to_dict().get("iat")):
        _sign_in_page(ended=True)


def sign_in_status(user: Mapping[str, Any], now: float) -> Status:
    """Where ``st.user`` stands at ``now`` (seconds since the epoch).

    A token with no readable ``exp`` counts as expired: there is no telling how
    old it is.  A missing ``email_verified`` is accepted (not every provider
    sends it); anything but a boolean true is refused (the core's rule).
    """
    if not user.get("is_logged_in"):
        return "signed_out"
    if _expires_at(user.get("exp")) <= now:
        return "expired"
    if not str(user.get("email") or "").strip():
        return "no_email"
    if not email_verified(user):
        return "unverified"
    return "signed_in"


def settings_problems(auth: object) -> list[str]:
    """What is missing or wrong in the ``[auth]`` section, one sentence each (no values
    of secrets in them)."""
    if not isinstance(auth, Mapping):
        return ["`auth` must be a section (`[auth]`) of settings, not a single value."]
    problems = [_missing(auth, name) for name in SETTINGS if not _text(auth.get(name))]
    redirect_uri = _text(auth.get("redirect_uri"))
    metadata_url = _text(auth.get("server_metadata_url"))
    if redirect_uri and not (_is_url(redirect_uri) and redirect_uri.endswith(CALLBACK)):
        problems.append(f"`redirect_uri` must be this app's address followed by `{CALLBACK}` "
                        f"(for example `http://localhost:8501{CALLBACK}`); it is "
                        f"{md(redirect_uri)}")
    if metadata_url and not _is_url(metadata_url):
        problems.append("`server_metadata_url` must be an http:// or https:// address (your "
                        "provider's `/.well-known/openid-configuration`).")
    if 0 < len(_text(auth.get("cookie_secret"))) < MIN_COOKIE_SECRET:
        problems.append(f"`cookie_secret` is too short: use at least {MIN_COOKIE_SECRET} "
                        "random characters, so nobody can guess it and forge a sign-in.")
    if importlib.util.find_spec("authlib") is None:
        problems.append('Sign-in needs Authlib: `pip install "streamlit[auth]"`.')
    return problems


def sign_out_button(key: str, service: ConnectionService | None) -> None:
    """The "Sign out" button: the sign-out is recorded through ``service`` (so every
    other session of the person ends too), then Streamlit deletes its cookie, and
    ends the session at the provider too when the provider offers that.

    ``service`` is None where the identity was refused (an address the provider
    did not verify): recording a sign-out for it would let anyone sign out the
    address's owner.
    """
    if st.button("Sign out", key=key, icon=":material/logout:"):
        if service is not None:
            service.sign_out()
        st.logout()


def no_access_page(service: ConnectionService) -> NoReturn:
    """Someone signed in who belongs to no workspace: who they are, and whom to ask."""
    email, admins = str(service.actor), service.admins
    st.title(PRODUCT)
    st.warning(f"You are signed in as **{md(email)}**, but you don't have access to any "
               "workspace yet.", icon=":material/lock:")
    if admins:
        st.markdown("Ask an admin of this dashboard to add you to a workspace: "
                    + ", ".join(f"**{md(admin)}**" for admin in sorted(admins)) + ".")
    else:
        st.markdown("This dashboard has no admin yet: whoever runs it can name admins in "
                    "`CONNECTIONS_ADMINS` (comma-separated e-mails).")
    sign_out_button("auth_no_access_sign_out", service)
    st.stop()


def _sign_in_page(*, expired: bool = False, ended: bool = False) -> NoReturn:
    st.title(PRODUCT)
    st.markdown("Your team's AI provider connections, with their API keys encrypted at rest.")
    if expired:
        st.info("Your session expired. Sign in again to continue.", icon=":material/timer_off:")
    if ended:
        st.info("This session has ended: you signed out in another tab or browser, or your "
                "access to a workspace was removed. Sign in again to continue.",
                icon=":material/logout:")
    if st.button("Sign in", key="auth_sign_in", type="primary", icon=":material/login:"):
        try:
            st.login()
        except StreamlitAuthError as error:  # Streamlit's own check of secrets.toml
            show_error(error)
    st.stop()


def _refused_page(user: Mapping[str, Any], status: Status) -> NoReturn:
    st.title(PRODUCT)
    if status == "unverified":
        st.error(f"Your identity provider has not verified **{md(user.get('email'))}**, so "
                 "it can't be used to sign in here. Verify it with your provider, then sign "
                 "in again.", icon=":material/gpp_bad:")
    else:
        st.error("Your identity provider did not say who you are (it sent no e-mail "
                 "address), so you can't sign in here. Ask whoever runs this dashboard to "
                 "request the `email` scope.", icon=":material/gpp_bad:")
    sign_out_button("auth_refused_sign_out", None)
    st.stop()


def _misconfigured_page(problems: list[str]) -> NoReturn:
    st.title("Sign-in is not set up correctly")
    for problem in problems:
        st.error(problem, icon=":material/settings_alert:")
    st.markdown(SETUP_HELP)
    st.stop()


def _missing(auth: Mapping[str, Any], name: str) -> str:
    if name not in auth:
        return f"`{name}` is missing in the `[auth]` section."
    if not isinstance(auth[name], str):
        return f"`{name}` in the `[auth]` section must be text, in quotes."
    return f"`{name}` is empty in the `[auth]` section."


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


def _expires_at(exp: object) -> float:
    if isinstance(exp, bool):
        return 0.0
    try:
        return float(exp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
