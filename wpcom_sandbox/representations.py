"""JSON shapes of WordPress.com REST resources, as the v1.x API renders them."""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.data import Site, User
from wpcom_sandbox.scopes import Access
from wpcom_sandbox.state import AccessToken


def site_json(site: Site, api_root: str, post_count: int) -> dict[str, Any]:
    """A site as `/sites/$site` and `/me/sites` show it; `api_root` is e.g. `http://host/rest/v1.1`.

    `post_count` is the number of published posts the sandbox holds for the site.
    """
    body: dict[str, Any] = {
        "ID": site.site_id,
        "name": site.name,
        "description": site.description,
        "URL": site.url,
        "user_can_manage": True,
        "capabilities": {
            "edit_pages": True,
            "edit_posts": True,
            "edit_others_posts": True,
            "delete_posts": True,
            "delete_others_posts": True,
            "edit_theme_options": True,
            "list_users": True,
            "manage_categories": True,
            "manage_options": True,
            "moderate_comments": True,
            "publish_posts": True,
            "upload_files": True,
            "view_stats": True,
        },
        "jetpack": False,
        "is_multisite": True,
        "site_owner": site.owner_id,
        "post_count": post_count,
        "subscribers_count": site.subscribers_count,
        "lang": site.lang,
        "logo": {"id": 0, "sizes": [], "url": ""},
        "visible": site.visible,
        "is_private": site.is_private,
        "is_coming_soon": False,
        "single_user_site": True,
        "is_vip": False,
        "is_following": True,
        "options": {
            "timezone": site.timezone,
            "gmt_offset": site.gmt_offset,
            "blog_public": -1 if site.is_private else 1,
            "videopress_enabled": False,
            "login_url": f"{site.url}/wp-login.php",
            "admin_url": f"{site.url}/wp-admin/",
            "is_mapped_domain": False,
            "is_redirect": False,
            "unmapped_url": site.url,
            "featured_images_enabled": True,
            "created_at": site.created_at,
            "is_wpcom_atomic": False,
            "is_automated_transfer": False,
        },
        "slug": site.slug,
        "meta": {
            "links": {
                "self": f"{api_root}/sites/{site.site_id}",
                "help": f"{api_root}/sites/{site.site_id}/help",
                "posts": f"{api_root}/sites/{site.site_id}/posts/",
                "comments": f"{api_root}/sites/{site.site_id}/comments/",
                "xmlrpc": f"{site.url}/xmlrpc.php",
            }
        },
    }
    if site.icon_media_id is not None:
        image = f"https://{site.domain.split('.', 1)[0]}.files.wordpress.com/2020/01/cropped-icon.png"
        body["icon"] = {"img": f"{image}?w=96", "ico": f"{image}?w=16", "media_id": site.icon_media_id}
    return body


def me_json(user: User, token: AccessToken, sites: list[Site], primary: Site | None, api_root: str) -> dict[str, Any]:
    """The `/me` object for the token's user; `token_site_id` is false unless the token is for one site."""
    return {
        "ID": user.user_id,
        "display_name": user.display_name,
        "username": user.username,
        "email": user.email,
        "primary_blog": user.primary_blog,
        "primary_blog_url": primary.url if primary else None,
        "primary_blog_is_jetpack": False,
        "language": user.language,
        "locale_variant": "",
        "token_site_id": token.blog_id if token.access is Access.SITE else False,
        "token_scope": token.scopes,
        "avatar_URL": user.avatar_url,
        "profile_URL": user.profile_url,
        "verified": user.verified,
        "email_verified": user.verified,
        "date": user.date,
        "site_count": len(sites),
        "visible_site_count": sum(1 for site in sites if site.visible),
        "has_unseen_notes": False,
        "newest_note_type": "",
        "phone_account": False,
        "meta": {
            "links": {
                "self": f"{api_root}/me",
                "help": f"{api_root}/me/help",
                "site": f"{api_root}/sites/{user.primary_blog}",
                "flags": f"{api_root}/me/flags",
            }
        },
    }
