"""Images (regular files, block devices): fixed 4 MiB chunks read with pread in the workers."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import SourceError, os_reason
from ..formats import DEFAULT_CHUNK_SIZE, open_noatime


@dataclass
class Image:
    """An open image: its path, descriptor and size. Close it with :meth:`close`."""

    path: str
    fd: int
    size: int
    chunk_size: int = DEFAULT_CHUNK_SIZE

    @classmethod
    def open(cls, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Image:
        """Open a regular file or block device read-only (O_NOATIME where permitted)."""
        try:
            fd = open_noatime(path)
        except OSError as exc:
            raise SourceError(path, os_reason(exc)) from None
        try:
            st = os.fstat(fd)
            if stat.S_ISBLK(st.st_mode):
                size = os.lseek(fd, 0, os.SEEK_END)
            elif stat.S_ISREG(st.st_mode):
                size = st.st_size
            else:
                raise SourceError(path, "not a regular file or block device")
        except OSError as exc:
            os.close(fd)
            raise SourceError(path, os_reason(exc)) from None
        except SourceError:
            os.close(fd)
            raise
        return cls(path, fd, size, chunk_size)

    def offsets(self) -> range:
        return range(0, self.size, self.chunk_size)

    def read_chunk(self, offset: int, buf: bytearray) -> memoryview:
        """The chunk at *offset* read into *buf* (the last one may be short).

        Reading into a reused buffer avoids a fresh 4 MiB allocation (and its page faults)
        per chunk. SourceError if the image shrank or a read fails.
        """
        want = min(self.chunk_size, self.size - offset)
        view = memoryview(buf)[:want]
        done = 0
        try:
            while done < want:  # preadv may return less for some devices
                n = os.preadv(self.fd, [view[done:]], offset + done)
                if n == 0:
                    raise SourceError(self.path, f"shrank while reading (EOF at {offset + done})")
                done += n
        except OSError as exc:
            raise SourceError(self.path, f"read at offset {offset}: {os_reason(exc)}") from None
        return view

    def close(self) -> None:
        os.close(self.fd)
