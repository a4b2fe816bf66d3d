"""The channel editor page at ``/editor``: a shell the static editor.js fills in.

Everything it shows and saves goes through the JSON API (:mod:`exstreamtv.web.config_edit`,
``GET /api/config/forms``), so the page can do nothing a script could not. It needs a
dashboard login (or no token configured); a viewer sees the channels read-only.
"""

from __future__ import annotations

from quart import Blueprint, Response, render_template

from exstreamtv.secrets import mask
from exstreamtv.web.auth import current_identity, token_required
from exstreamtv.web.common import hub

bp = Blueprint("editor_page", __name__, template_folder="templates")


@bp.route("/editor")
async def editor() -> Response:
    identity = current_identity()
    html = await render_template(
        "editor.html", name=hub().config.server.name,
        identity=identity, admin=bool(identity and identity.admin),
        token_required=token_required())
    response = Response(mask(html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: https: http:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; form-action 'self'")
    response.headers["X-Frame-Options"] = "DENY"
    return response
