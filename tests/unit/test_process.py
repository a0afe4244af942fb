"""A started process keeps what start-up built out of the collector's sight, and gives it back."""

import gc
import weakref

from backend import process


class Node:
    pass


def test_what_exists_at_start_up_is_left_alone_while_running_and_collectable_after():
    node = Node()
    node.itself = node  # a cycle: only the collector frees it
    alive = weakref.ref(node)
    del node
    with process.started():
        gc.collect()
        assert alive() is not None  # frozen: a full collection does not even look at it
    gc.collect()
    assert alive() is None  # given back when the process's run ends
