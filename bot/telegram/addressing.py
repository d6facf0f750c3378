"""Who a message is meant for: in a private chat every text is a question; in a group only a
mention of the bot or a reply to one of its messages (and only its own commands)."""

from __future__ import annotations

from telegram import Message, MessageEntity
from telegram.constants import ChatType


def question_text(message: Message | None, bot_id: int, username: str) -> str | None:
    """The question in a message meant for the bot (mention removed), or None."""
    if message is None or message.text is None:
        return None
    text = message.text
    if message.chat.type == ChatType.PRIVATE:
        return text.strip()
    reply = message.reply_to_message
    addressed = bool(reply and reply.from_user and reply.from_user.id == bot_id)
    handle = f"@{username}".lower()
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if value.lower() == handle or (entity.user is not None and entity.user.id == bot_id):
            addressed = True
            text = text.replace(value, " ")
    return " ".join(text.split()) if addressed else None


def is_my_command(message: Message | None, username: str) -> bool:
    """A command without a bot name, or with this bot's name."""
    if message is None or not message.text or not message.text.startswith("/"):
        return False
    word = message.text.split(maxsplit=1)[0]
    return "@" not in word or word.lower().endswith(f"@{username}".lower())
