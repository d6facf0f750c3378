"""Files → articles → chunks → index → search."""

from .threads import configure

configure()  # before FAISS or the embedding engine load their OpenMP runtimes
