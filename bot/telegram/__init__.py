"""The Telegram front end (`qabot telegram`), python-telegram-bot v22 on asyncio.

`app` builds and runs the Application (polling, or `webhook`); `handlers` holds the bot's
behaviour (who is addressed, commands, answering); `drafts` grows a streamed answer in place;
`sending` talks to the Bot API with retries; `format` renders answers as Telegram HTML; `state`
keeps per-chat memory; `texts` holds the bot's own sentences; `config` its knobs.
"""
