"""Report bodies are written by the AI system: render their Markdown, then let only harmless HTML through."""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml


def _image_as_link(self, tokens, index, options, env):
    """An image becomes a link to it: loading it would tell its server who read the report, and when."""
    token = tokens[index]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return f'<a href="{escapeHtml(token.attrGet("src") or "")}">[image: {escapeHtml(alt)}]</a>'


# Raw HTML in the Markdown is shown as text (html=False); tables as GitHub writes them; images as links.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
_markdown.add_render_rule("image", _image_as_link)
_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def markdown_to_safe_html(text: str) -> SafeString:
    """CommonMark to HTML, sanitised: no scripts, no event handlers, no images, no `javascript:` or `data:` URLs."""
    html = _markdown.render(text or "")
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
