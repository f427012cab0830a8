"""Backup assurance: what prune will keep, the newest restorable point, what GC will free.

Pure computations over what the walk and the dedup engine already read; nothing here opens a
chunk or writes under a datastore.
"""
