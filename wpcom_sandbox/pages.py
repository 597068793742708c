"""HTML pages of the OAuth flow: the consent page and the error page. Every value is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from wpcom_sandbox.data import Site, User

FORM_NONCE_FIELD = "sandbox_form_token"

_STYLE = """
body { font: 16px/1.5 -apple-system, "Segoe UI", Roboto, sans-serif; background: #f6f7f7; color: #1d2327; margin: 0; }
main { max-width: 32rem; margin: 1.5rem auto; background: #fff; padding: 1.25rem 1.5rem; border: 1px solid #dcdcde; }
h1 { font-size: 1.25rem; line-height: 1.35; margin: .75rem 0; }
.banner { background: #fcf9e8; border: 1px solid #dba617; padding: .35rem .75rem; font-size: .8125rem; margin: 0; }
.error { background: #fcf0f1; border: 1px solid #d63638; padding: .5rem .75rem; }
label { display: block; font-weight: 600; margin-top: .75rem; }
select { width: 100%; padding: .4rem; margin-top: .25rem; }
p, ul { margin: .5rem 0; }
.actions { display: flex; gap: .75rem; margin-top: 1rem; }
button { padding: .55rem 1.25rem; font-size: 1rem; border-radius: 3px; cursor: pointer; }
#approve { background: #2271b1; border: 1px solid #2271b1; color: #fff; }
#deny { background: #fff; border: 1px solid #8c8f94; color: #1d2327; }
.fine { color: #646970; font-size: .8125rem; word-break: break-all; }
/* The Paragon SDK's popup is 500x600: use all of it, so Approve and Deny show without scrolling. */
@media (max-width: 560px) {
  body { background: #fff; }
  main { margin: 0; border: 0; padding: .75rem 1rem; }
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        '<p class="banner">WordPress.com sandbox: a local emulator, not the real WordPress.com.</p>\n'
        f"{content}\n</main>\n</body>\n</html>\n"
    )


def error_page(title: str, message: str) -> str:
    """An OAuth error page (shown instead of redirecting when the client or redirect_uri is bad)."""
    return _page(title, f'<h1 id="error-title">{_e(title)}</h1>\n<p id="error-message">{_e(message)}</p>')


@dataclass(frozen=True)
class ConsentView:
    """What the consent page shows; `params` are the original authorize parameters."""

    app_name: str
    redirect_uri: str
    scope_lines: list[str]
    users: list[User]
    sites_by_user: Mapping[int, list[Site]]
    selected_user: int
    selected_site: int | None
    needs_site: bool
    params: Mapping[str, str]
    form_token: str
    error: str | None = None


def _hidden_fields(view: ConsentView) -> str:
    fields = [(name, value) for name, value in sorted(view.params.items())]
    fields.append((FORM_NONCE_FIELD, view.form_token))
    return "\n".join(f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">' for name, value in fields)


def _user_select(view: ConsentView) -> str:
    options = "".join(
        f'<option value="{user.user_id}"{" selected" if user.user_id == view.selected_user else ""}>'
        f"{_e(user.display_name)} (@{_e(user.username)})</option>"
        for user in view.users
    )
    return f'<label for="user">Log in as</label>\n<select id="user" name="user">{options}</select>'


def _site_select(view: ConsentView) -> str:
    groups = []
    for user in view.users:
        options = "".join(
            f'<option value="{site.site_id}"{" selected" if site.site_id == view.selected_site else ""}>'
            f"{_e(site.name)} ({_e(site.domain)})</option>"
            for site in view.sites_by_user.get(user.user_id, [])
        )
        if options:
            groups.append(f'<optgroup label="{_e(user.display_name)} (@{_e(user.username)})">{options}</optgroup>')
    return (
        '<label for="site">Connect this site (it must belong to the user above)</label>\n'
        f'<select id="site" name="site">{"".join(groups)}</select>'
    )


def consent_page(view: ConsentView) -> str:
    """The authorize page: user and site pickers, the requested access, Approve and Deny."""
    hidden = _hidden_fields(view)
    error = f'<p class="error" id="consent-error">{_e(view.error)}</p>\n' if view.error else ""
    lines = "".join(f"<li>{_e(line)}</li>" for line in view.scope_lines)
    site_select = _site_select(view) if view.needs_site else ""
    return _page(
        f"Connect {view.app_name} to WordPress.com",
        f'<h1>Howdy! <strong id="app-name">{_e(view.app_name)}</strong> would like to connect to your '
        "WordPress.com account.</h1>\n"
        f"{error}"
        f'<form method="post" action="/oauth2/authorize" id="approve-form">\n{hidden}\n'
        f"{_user_select(view)}\n{site_select}\n"
        f'<p>It will be able to:</p>\n<ul id="scopes">{lines}</ul>\n'
        '<div class="actions"><button type="submit" id="approve" name="action" value="approve">Approve</button>'
        '<button type="submit" id="deny" name="action" value="deny" form="deny-form">Deny</button></div>\n'
        "</form>\n"
        f'<form method="post" action="/oauth2/authorize" id="deny-form">\n{hidden}\n</form>\n'
        f'<p class="fine">You will be sent back to {_e(view.redirect_uri)}</p>',
    )
