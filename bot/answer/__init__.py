"""Answering a question from retrieved chunks: offline (extractive) or with a chat model (llm).

Both answerers implement `base.Answerer`; the service chooses one per request, falls back from the
chat model to the extractive answer, and hands both the same `base.Retrieved` (one index snapshot).
"""
