"""A status as an Amazon Q Developer in chat applications (formerly AWS Chatbot) custom notification.

Published to an SNS topic that Amazon Q Developer subscribes a Slack channel or Microsoft Teams
channel to, it renders as a card (Amazon Q Developer in chat applications administrator guide,
"Custom notifications using Amazon Q Developer in chat applications", its event schema and
parameter details): ``version`` must be "1.0", ``source`` must be "custom"; ``content`` has
``textType`` (only "client-markdown": the chat platform's own markdown), ``title``,
``description``, ``nextSteps`` and ``keywords``; ``metadata`` has ``threadId`` (notifications with
the same one are threaded, when the channel's preferences allow it), ``summary``, ``eventType``,
``relatedResources`` and ``additionalContext``.

Pure (``domain.messages.notice`` reads the status). The guide gives no length limits: the description is
kept to a Slack section's 3,000 characters (the card is rendered in Slack or Teams), each next
step and keyword short, and the whole far under SNS's 256 KB.
"""

from __future__ import annotations

from typing import Any

from .notice import Notice
from .slack_message import cut

VERSION = "1.0"
SOURCE = "custom"
TEXT_TYPE = "client-markdown"
TITLE_CHARS = 250
DESCRIPTION_CHARS = 3000
LIST_ITEM_CHARS = 500
MAX_NEXT_STEPS = 5
MAX_KEYWORDS = 6
KEYWORD_CHARS = 75
SUMMARY_CHARS = 300
REMEDY_POINTER = (
    "The status message's remedy holds the container definition to add, "
    "with Terraform and CloudFormation snippets."
)


def _md(text: str) -> str:
    """A value in client markdown that can make no link or mention of its own on either platform:
    angle brackets (Slack's ``<url|text>``, ``<!channel>``) become look-alikes, which read the same
    and need no escaping that Teams would show as it is."""
    return text.replace("<", "\u2039").replace(">", "\u203a")  # single angle quotation marks


def _list(title: str, items: list[str], limit: int) -> str:
    lines = [f"*{title}*"]
    for index, item in enumerate(items):
        line = cut(f"• {_md(item)}", LIST_ITEM_CHARS)
        if len("\n".join([*lines, line])) > limit:
            lines.append(f"…and {len(items) - index:,} more")
            break
        lines.append(line)
    return "\n".join(lines)


def render(notice: Notice, message_id: str | None = None) -> dict[str, Any]:
    """The custom notification of one status (``message_id``: the SNS message's id, as ``id``)."""
    description = _description(notice)
    next_steps = _next_steps(notice)
    keywords, context = _keywords(notice), _context(notice)
    notification: dict[str, Any] = {
        "version": VERSION,
        "source": SOURCE,
        "content": {
            "textType": TEXT_TYPE,
            "title": cut(f"{notice.emoji} {_md(notice.title)}", TITLE_CHARS),
            "description": description,
            "nextSteps": [cut(step, LIST_ITEM_CHARS) for step in next_steps[:MAX_NEXT_STEPS]],
            "keywords": [cut(word, KEYWORD_CHARS) for word in keywords[:MAX_KEYWORDS]],
        },
        "metadata": {
            "threadId": notice.thread_id,
            "summary": cut(_md(notice.summary()), SUMMARY_CHARS),
            "eventType": notice.status,
            "relatedResources": notice.related_arns,
            "additionalContext": context,
        },
    }
    if message_id:
        notification["id"] = message_id
    return notification


def _description(notice: Notice) -> str:
    """The facts, the revision and task size, the lists, then the links (kept whole: the rest is cut
    to leave them room)."""
    parts = [" · ".join(f"*{label}*: {_md(value)}" for label, value in notice.facts)]
    if notice.revision:
        source, new = notice.revision
        parts.append(f"*Revision*: `{_md(source)}` → `{_md(new)}`" if new else f"*Revision*: `{_md(source)}`")
    if notice.task_size:
        parts.append(f"*Task size*: {_md(notice.task_size[0])} → {_md(notice.task_size[1])}")
    for title, items in (
        ("Reasons", notice.reasons),
        ("Reverted by", notice.reverted_by),
        ("Warnings", notice.warnings),
        ("Changes", notice.changes),
    ):
        if items:
            parts.append(_list(title, items, 900))
    if notice.links:
        # Bare URLs: Slack and Teams both make them links (their link markups differ).
        parts.append("\n".join(f"{link.label}: {link.url}" for link in notice.links))
    links = parts.pop() if notice.links else ""
    description = cut("\n".join(part for part in parts if part), DESCRIPTION_CHARS - len(links) - 1)
    if links:
        description = f"{description}\n{links}"
    return description


def _next_steps(notice: Notice) -> list[str]:
    """What a person does next: the notice's step, how to release, the remedy's steps."""
    next_steps = [notice.next_step]
    if notice.release_command:  # one line in a code span: pasted as it is
        release = f"Release: `{_md(notice.release_command)}`"
        if notice.release_tag:
            release += f" or tag the service `{_md(notice.release_tag)}`"
        next_steps.append(release)
    elif notice.release:
        release = _md(notice.release)  # its own code spans kept, not nested in another
        next_steps.append(f"Release: {release}" if "`" in release else f"Release: `{release}`")
    next_steps += [_md(step) for step in notice.remedy_steps]
    if notice.remedy_snippet:
        next_steps.append(REMEDY_POINTER)
    return next_steps


def _keywords(notice: Notice) -> list[str]:
    return [
        value
        for value in (notice.status, notice.cluster, notice.service or notice.family, notice.region)
        if value
    ]


def _context(notice: Notice) -> dict[str, str]:
    return {
        key: value
        for key, value in (
            ("status", notice.status),
            ("account", notice.account),
            ("region", notice.region),
            ("cluster", notice.cluster),
            ("service", notice.service),
            ("family", notice.family),
            ("eventId", notice.event_id),
        )
        if value
    }
