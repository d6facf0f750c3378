"""The chat model's prompt wording, installed as the package `bot.prompts` (see pyproject.toml).

The files live at the top of the repository so they can be read and tuned without touching code;
`bot/answer/prompts.py` reads them with importlib.resources, in a source tree, an editable install
and a wheel alike.
"""
