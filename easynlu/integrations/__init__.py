"""easynlu models in other frameworks: one module per framework, each imported only when used.

    from easynlu.integrations.langchain import EasyNLUEmbeddings          # langchain-core
    from easynlu.integrations.llama_index import EasyNLUEmbedding         # llama-index-core
    from easynlu.integrations.chroma import EasyNLUEmbeddingFunction      # chromadb
    from easynlu.integrations.mteb import EasyNLUEncoder                  # mteb 2

Each takes an easynlu ref (``"en.embed_sentence.minilm"``) or a pipeline from ``easynlu.load``,
plus ``embed``'s options (``normalize=True``, ``pooling="cls"``, ...), and hands the framework the
vectors of ``pipe.embed``. Install a framework with its extra: ``pip install "easynlu[langchain]"``.
"""
