from __future__ import annotations

import tracemalloc

from crosspost.emulators.vk import VkEmulator
from crosspost.models import Content, MediaKind
from crosspost.richtext import RichText

from .conftest import GROUP_ID, DeliveryFactory, MediaFactory, PublisherFactory

FILE_SIZE = 24 * 1024 * 1024


async def test_upload_memory_does_not_grow_with_file_size(
    emu: VkEmulator,
    make_publisher: PublisherFactory,
    make_delivery: DeliveryFactory,
    make_media: MediaFactory,
) -> None:
    emu.keep_bytes = False  # the emulator keeps a digest, so only the client is measured
    doc = make_media(MediaKind.DOCUMENT, size=FILE_SIZE)
    content = Content(text=RichText.plain("Большой документ"), media=(doc,))
    publisher = make_publisher(user=None)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        await publisher.publish(make_delivery(), content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [post] = emu.wall(GROUP_ID)
    stored = emu.media(post.attachments[0])
    assert stored.size == FILE_SIZE
    assert stored.sha256 == doc.sha256
    grown = peak - base
    assert grown < FILE_SIZE // 8, f"traced peak grew by {grown / 2**20:.2f} MiB"
