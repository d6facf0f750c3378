"""The Telegram bot's own sentences (answers' labels come from `bot.answer.render`)."""

from __future__ import annotations

from ..errors import EmptyQuestion, QuestionError, QuestionTooLong

REFUSED = "抱歉，这个机器人只对指定的聊天开放，无法在这里回答问题。"
RATE_LIMITED = "提问有点太频繁了，请 {s} 秒后再试。"
APOLOGY = "抱歉，处理这条消息时出了点问题，请稍后再试。"
RESET_DONE = "好的，对话记忆已清空，接下来的问题将重新开始。"
NO_ANSWER_YET = "还没有可以查看出处的回答。先问一个问题吧。"
EXPIRED = "这条回答已过期，请重新提问。"
EMPTY_QUESTION = "请发送一个问题，例如“某市总工会签订了多少份集体合同？”。"
TOO_LONG = "问题太长了（{n} 个字），请缩短到 {limit} 个字以内。"
BAD_QUESTION = "这个问题无法处理：{error}"
COMMANDS = [
    ("help", "使用说明：我知道什么、怎么提问"),
    ("sources", "查看上一个回答的完整出处"),
    ("reset", "清空对话记忆，开始新话题"),
]


def question_hint(exc: QuestionError) -> str:
    """What the chat is told when its question cannot be answered as asked."""
    if isinstance(exc, EmptyQuestion):
        return EMPTY_QUESTION
    if isinstance(exc, QuestionTooLong):
        return TOO_LONG.format(n=exc.length, limit=exc.limit)
    return BAD_QUESTION.format(error=exc)
