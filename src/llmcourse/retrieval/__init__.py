"""Retrieval: chunking, vector indexes from scratch (flat, IVF, HNSW), BM25, hybrid search, RAG (week 8).

    flat        FlatIndex: exact search, one matrix product (faiss IndexFlat)
    kmeans      k-means from scratch, vectorised (the IVF quantiser)
    ivf         IVFIndex: search the nprobe nearest of nlist clusters (faiss IndexIVFFlat)
    hnsw        HNSWIndex: a layered small-world graph (faiss IndexHNSWFlat)
    lance_store LanceStore: LanceDB on disk behind the same add/search
    bm25        BM25: Lucene's keyword ranking (equal to bm25s)
    hybrid      reciprocal-rank fusion of rankings
    metrics     recall@k, MRR, nDCG (equal to scikit-learn), recall against exact search
    chunking    fixed, sentence and recursive chunking with character spans
    rag         prompts with numbered sources, citations, exact match / F1, citation precision
    compare     RAG against a LoRA fine-tuned model: generation, fine-tuning, evaluation (not imported here)
"""

from llmcourse.retrieval.bm25 import BM25
from llmcourse.retrieval.chunking import (
    STRATEGIES, Chunk, chunk_corpus, fixed_chunks, recursive_chunks, sentence_chunks, split_sentences,
)
from llmcourse.retrieval.flat import FlatIndex
from llmcourse.retrieval.hnsw import HNSWIndex
from llmcourse.retrieval.hybrid import reciprocal_rank_fusion
from llmcourse.retrieval.ivf import IVFIndex
from llmcourse.retrieval.kmeans import kmeans
from llmcourse.retrieval.lance_store import LanceStore, SchemaMismatchError
from llmcourse.retrieval.metrics import knn_recall, mean_reciprocal_rank, ndcg_at_k, recall_at_k
from llmcourse.retrieval.rag import (
    RAGAnswer, answer_in, build_prompt, citation_precision, closed_book_prompt, exact_match, normalize_answer, parse_answer,
    token_f1,
)

__all__ = [
    "BM25", "Chunk", "RAGAnswer", "answer_in", "build_prompt", "citation_precision", "closed_book_prompt", "exact_match",
    "normalize_answer", "parse_answer", "token_f1", "FlatIndex", "HNSWIndex", "IVFIndex", "LanceStore", "STRATEGIES", "SchemaMismatchError",
    "chunk_corpus", "fixed_chunks", "kmeans", "knn_recall", "mean_reciprocal_rank", "ndcg_at_k", "recall_at_k",
    "reciprocal_rank_fusion", "recursive_chunks", "sentence_chunks", "split_sentences",
]
