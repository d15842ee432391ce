"""Adapters of :class:`protocols.files.FileStore`: ``s3`` (aiobotocore) and ``local``."""
