"""Average-link joining over a sparse similarity graph, with clusters that may not merge.

Single link chains: one article that mentions two events glues their stories together.
Average link joins two clusters only when the mean similarity over *all* their cross pairs
(missing edges count as 0) reaches the threshold, so one bridging pair is not enough.
Clusters from earlier runs are `frozen`: new articles may join them, but two of them never
merge (their ids stay stable for the store).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence


def average_link(
    initial: Sequence[Sequence[int]],
    edges: Mapping[tuple[int, int], float],
    threshold: float,
    frozen: Sequence[bool],
    pair_mean: Callable[[Sequence[int], Sequence[int]], float] | None = None,
) -> list[list[int]]:
    """Greedy best-first average-link agglomeration.

    `initial` are the starting clusters (lists of node ids); `edges[(u, v)]` the similarity of
    nodes u < v; two clusters that are both `frozen` never merge. Deterministic: ties break on
    the smaller cluster ids.

    Without `pair_mean` a missing edge counts 0. With it, edges only say which clusters are
    neighbours (LSH proposed at least one cross pair), and the merge score is
    `pair_mean(members_c, members_d)`: the mean exact similarity over all cross pairs, so a
    pair the LSH happened to miss is not taken for a dissimilar one.
    """
    n = len(initial)
    members: list[list[int]] = [list(c) for c in initial]
    size = [len(c) for c in initial]
    is_frozen = list(frozen)
    alive = [True] * n
    node_cluster: dict[int, int] = {}
    for ci, c in enumerate(initial):
        for u in c:
            node_cluster[u] = ci
    # sums[c][d] = total similarity between clusters c and d
    sums: list[dict[int, float]] = [{} for _ in range(n)]
    for (u, v), w in edges.items():
        cu, cv = node_cluster[u], node_cluster[v]
        if cu == cv:
            continue
        sums[cu][cv] = sums[cu].get(cv, 0.0) + w
        sums[cv][cu] = sums[cv].get(cu, 0.0) + w
    version = [0] * n
    heap: list[tuple[float, int, int, int, int]] = []

    def push(c: int, d: int) -> None:
        if is_frozen[c] and is_frozen[d]:
            return
        if pair_mean is not None:
            avg = pair_mean(members[c], members[d])
        else:
            avg = sums[c][d] / (size[c] * size[d])
        if avg >= threshold:
            a, b = (c, d) if c < d else (d, c)
            heapq.heappush(heap, (-avg, a, b, version[a], version[b]))

    for c in range(n):
        for d in sums[c]:
            if c < d:
                push(c, d)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        # merge b into a (a < b keeps the lower id, so results do not depend on heap order)
        alive[b] = False
        members[a].extend(members[b])
        size[a] += size[b]
        is_frozen[a] = is_frozen[a] or is_frozen[b]
        version[a] += 1
        for d, w in sums[b].items():
            if d == a:
                continue
            sums[d].pop(b, None)
            sums[a][d] = sums[a].get(d, 0.0) + w
            sums[d][a] = sums[a][d]
        sums[a].pop(b, None)
        sums[b] = {}
        for d in sums[a]:
            if alive[d]:
                push(a, d)
    return [members[c] for c in range(n) if alive[c]]
