"""The Telegram bot's own sentences (answers' labels come from `bot.answer.render`)."""

from __future__ import annotations

from ..errors import EmptyQuestion, QuestionError, QuestionTooLong
from ..library import AddResult

REFUSED = "抱歉，这个机器人只对指定的聊天开放，无法在这里回答问题。"
RATE_LIMITED = "提问有点太频繁了，请 {s} 秒后再试。"
APOLOGY = "抱歉，处理这条消息时出了点问题，请稍后再试。"
RESET_DONE = "好的，对话记忆已清空，接下来的问题将重新开始。"
NO_ANSWER_YET = "还没有可以查看出处的回答。先问一个问题吧。"
EXPIRED = "这条回答已过期，请重新提问。"
EMPTY_QUESTION = "请发送一个问题，例如“某市总工会签订了多少份集体合同？”。"
TOO_LONG = "问题太长了（{n} 个字），请缩短到 {limit} 个字以内。"
BAD_QUESTION = "这个问题无法处理：{error}"
ADD_REFUSED = "抱歉，只有管理员聊天可以添加文章。"
ADD_USAGE = "用法：/add 链接（http:// 或 https:// 开头），或直接发送文件（PDF、扫描图片、网页、Word）。"
ADDED = "已添加《{title}》{date}，索引了 {chunks} 段。"
ADDED_DATE = "（{date}）"
ALREADY_ADDED = "《{title}》已经在资料库中了，没有重复添加。"
ADD_FAILED = "无法添加：{error}"
FILE_TOO_LARGE = "文件太大（{size:,} 字节），上限是 {limit:,} 字节。"
COMMANDS = [
    ("help", "使用说明：我知道什么、怎么提问"),
    ("sources", "查看上一个回答的完整出处"),
    ("reset", "清空对话记忆，开始新话题"),
    ("add", "管理员：添加一篇文章（/add 链接，或直接发送文件）"),
]


def question_hint(exc: QuestionError) -> str:
    """What the chat is told when its question cannot be answered as asked."""
    if isinstance(exc, EmptyQuestion):
        return EMPTY_QUESTION
    if isinstance(exc, QuestionTooLong):
        return TOO_LONG.format(n=exc.length, limit=exc.limit)
    return BAD_QUESTION.format(error=exc)


def added_text(result: AddResult) -> str:
    """The reply to an admin who added an article: its title, date and how many chunks were indexed."""
    article = result.article
    title = article.title or article.url or article.file
    if not result.created:
        return ALREADY_ADDED.format(title=title)
    date = ADDED_DATE.format(date=article.date) if article.date else ""
    return ADDED.format(title=title, date=date, chunks="?" if result.chunks is None else result.chunks)
