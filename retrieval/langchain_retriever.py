"""The hybrid searcher as a LangChain retriever (kept apart: LangChain's retriever stack is slow to import)."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .search import HybridSearcher


class QabotRetriever(BaseRetriever):
    """The hybrid searcher as a LangChain retriever, for chains that want `Document`s."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: HybridSearcher
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=hit.chunk.text,
                metadata={
                    "title": hit.chunk.title,
                    "file": hit.chunk.doc,
                    "start": hit.chunk.start,
                    "end": hit.chunk.end,
                    "score": hit.score,
                    "chunk_id": hit.chunk.id,
                },
            )
            for hit in self.searcher.search(query, self.k)
        ]
