"""A status as a Slack message: Block Kit for an incoming webhook.

Pure (``domain.messages.notice`` reads the status; nothing from the environment). Slack's limits, each
respected whatever the status holds, long text cut saying how much:

- a header block's text: 150 characters (Slack, Block Kit reference, "Header block");
- a section's text: 3,000 characters; its ``fields``: at most 10, 2,000 characters each (Slack,
  Block Kit reference, "Section block");
- a message: at most 50 blocks (Slack, Block Kit reference, "Blocks");
- all the blocks' text together: Slack refuses some messages well under 50 x 3,000 characters with
  ``msg_blocks_too_long`` (about 13,000 characters observed: slackapi/bolt-js issue 2509), so
  every variable section here gets ``SECTION_BUDGET`` and the whole stays under ``TOTAL_BUDGET``.

Text in ``mrkdwn`` escapes ``&``, ``<`` and ``>`` (Slack, "Formatting text for app surfaces":
escaping text), so a value can never turn into a link or a mention.
"""

from __future__ import annotations

from typing import Any

from .console import Link
from .notice import Notice

HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
FACT_CHARS = 150  # each field: a name, an id, a version
SECTION_BUDGET = 1400  # each list section (reasons, callers, changes, warnings, remedy)
TOTAL_BUDGET = 12000  # every block's text together
FALLBACK_CHARS = 300  # the top-level "text": the notification's preview
FENCE = "```"
REMEDY_POINTER = (
    "Add this to the task definition in its pipeline (the status message holds it whole, "
    "with Terraform and CloudFormation snippets):"
)
LINKS = "links"  # the links' section: never cut (a cut URL is a wrong link)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text``, or its start with a note of how many characters were cut, in at most ``limit``
    characters; an escaped entity (``&amp;``) is never cut in half."""
    if len(text) <= limit:
        return text
    room = max(limit - len(f"…({len(text):,} characters cut)"), 0)  # the longest note there can be
    kept = text[:room]
    amp = kept.rfind("&")
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return f"{kept}…({len(text) - len(kept):,} characters cut)"[:limit]


def _code(text: str) -> str:
    """Text for a code span or block: no fence or backtick of its own can end it early."""
    return escape(text.replace("`", "'"))


def _bullets(title: str, items: list[str], limit: int = SECTION_BUDGET) -> str:
    """``*title*`` and one bullet per item, as many as fit ``limit``, then how many were left out."""
    lines = [f"*{title}*"]
    for index, item in enumerate(items):
        line = f"• {escape(item)}"
        rest = len(items) - index - 1
        tail = f"\n…and {rest + 1:,} more" if rest else ""
        if len("\n".join([*lines, line])) + len(tail) <= limit:
            lines.append(line)
            continue
        room = limit - len("\n".join(lines)) - 1 - len(f"\n…and {rest:,} more" if rest else "")
        if room > 40:  # a useful start of this item, then the count of the others
            lines.append(cut(line, room))
            if rest:
                lines.append(f"…and {rest:,} more")
        else:
            lines.append(f"…and {rest + 1:,} more")
        break
    return "\n".join(lines)


def _code_block(title: str, lines: list[str], code: str, limit: int = SECTION_BUDGET) -> str:
    head = "\n".join([f"*{title}*", *lines])
    room = limit - len(head) - 2 * len(FENCE) - 2
    body = cut(_code(code), max(room, 0))
    return f"{head}\n{FENCE}{body}{FENCE}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_CHARS)}}


def _links(links: list[Link]) -> str:
    return "  ·  ".join(f"<{link.url}|{escape(link.label)}>" for link in links)


def render(notice: Notice) -> dict[str, Any]:
    """The webhook payload: ``text`` (the notification's preview) and ``blocks``."""
    header = cut(f"{notice.emoji} {notice.status} · {notice.target}", HEADER_CHARS)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
    ]
    if notice.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": cut(f"*{label}*\n{escape(value)}", FACT_CHARS)}
                    for label, value in notice.facts[:MAX_FIELDS]
                ],
            }
        )
    change = []
    if notice.revision:
        source, new = notice.revision
        shown = f"`{_code(source)}` → `{_code(new)}`" if new else f"`{_code(source)}`"
        change.append(f"*Revision*  {shown}")
    if notice.task_size:
        old, new = notice.task_size
        change.append(f"*Task size*  {escape(old)} → {escape(new)}")
    if change:
        blocks.append(_section(cut("\n".join(change), SECTION_BUDGET)))
    for title, items in (
        ("Reasons", notice.reasons),
        ("Reverted by", notice.reverted_by),
        ("Changes", notice.changes),
        ("Warnings", notice.warnings),
    ):
        if items:
            blocks.append(_section(_bullets(title, items)))
    if notice.release_command:  # one line in a code span: pasted as it is
        release = f"*Release*  `{_code(notice.release_command)}`"
        if notice.release_tag:
            release += f"\nor tag the service `{_code(notice.release_tag)}`"
        blocks.append(_section(cut(release, SECTION_BUDGET)))
    elif notice.release:
        blocks.append(_section(cut(f"*Release*  {escape(notice.release)}", SECTION_BUDGET)))
    if notice.remedy_snippet or notice.remedy_steps:
        steps = [cut(f"• {escape(step)}", 300) for step in notice.remedy_steps[:5]]
        if notice.remedy_snippet:
            steps.append(REMEDY_POINTER)
            blocks.append(_section(_code_block("Remedy", steps, notice.remedy_snippet)))
        else:
            blocks.append(_section(cut("\n".join(["*Remedy*", *steps]), SECTION_BUDGET)))
    blocks.append(_section(f"*What to do*  {escape(notice.next_step)}"))
    if notice.links:
        blocks.append({**_section(_links(notice.links)), "block_id": LINKS})
    context = ["sidecar-enforcer"]
    if notice.event_id:
        context.append(f"event {escape(notice.event_id)}")
    footer = {"type": "mrkdwn", "text": cut(" · ".join(context), 300)}
    blocks.append({"type": "context", "elements": [footer]})
    blocks = _within_budget(blocks[:MAX_BLOCKS])
    return {"text": cut(escape(notice.summary()), FALLBACK_CHARS), "blocks": blocks}


def _within_budget(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cut the longest sections until all the text fits ``TOTAL_BUDGET`` (with names near ECS's
    255-character limits the links alone are long)."""
    payload = {"blocks": blocks}
    excess = block_text(payload) - TOTAL_BUDGET
    while excess > 0:
        sections = [
            b for b in blocks if "text" in b and b["type"] == "section" and b.get("block_id") != LINKS
        ]
        longest = max(sections, key=lambda b: len(b["text"]["text"]))
        text = longest["text"]["text"]
        longest["text"]["text"] = cut(text, max(len(text) - excess, 100))
        new_excess = block_text(payload) - TOTAL_BUDGET
        if new_excess >= excess:  # nothing left to cut
            break
        excess = new_excess
    return blocks


def block_text(payload: dict[str, Any]) -> int:
    """How many characters of text the payload's blocks hold (what ``TOTAL_BUDGET`` bounds)."""
    total = 0
    for block in payload.get("blocks", []):
        texts = [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        total += sum(len(text.get("text", "")) for text in texts if isinstance(text, dict))
    return total
