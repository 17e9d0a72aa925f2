#pragma once
/// \file
/// The graphs of the max-flow task: directed, unit capacity on every edge, no self loops, no node pair joined both
/// ways, a source and a target. What is here needs no tokens: the graph and its checks, the
/// random instances, and the exact max flow and minimum cut (Edmonds-Karp, the algorithm the process runs).
///
/// Random instances (random_graph): `nodes` nodes, an edge count drawn uniformly from [nodes, 2 nodes] (capped at
/// the nodes * (nodes - 1) / 2 one-way pairs: 4-6 edges at 4 nodes, 5-10 at 5, 6-12 at 6, 10-20 at 10), the pairs
/// drawn without repetition and each oriented by a coin, source and target two distinct random nodes; a draw whose
/// max flow is 0 is drawn again, so every instance has a cut to delete. Edges are kept sorted by (u, v), the order
/// the serialisation writes them in. (The released generator adds edges across the current cut until the flow
/// reaches a target of 3-5 on 10-15 nodes; on 4-10 nodes a flow that high would need nearly complete graphs.)

#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace apgen::tasks::maxflow {

/// Node ids the vocabulary can name ("0" .. "19"), and so the largest graph.
inline constexpr std::size_t max_nodes = 20;

struct edge {
  std::size_t from = 0, to = 0;
  friend bool operator==(const edge&, const edge&) = default;
  friend auto operator<=>(const edge&, const edge&) = default;
};

struct graph {
  std::size_t nodes = 0;
  std::size_t source = 0, target = 1;
  std::vector<edge> edges; ///< sorted by (from, to)
  friend bool operator==(const graph&, const graph&) = default;
  friend auto operator<=>(const graph&, const graph&) = default; ///< so graphs can key a std::set
};

/// Throws invalid_argument naming the problem when `g` is not a graph of the task: fewer than 2 or more than
/// max_nodes nodes, source or target out of range, source == target, an edge out of range, a self loop, a repeated
/// edge, a pair joined both ways, or edges out of (from, to) order.
inline void check_graph(const graph& g) {
  using apgen::detail::fail;
  if (g.nodes < 2 || g.nodes > max_nodes)
    fail<invalid_argument>("maxflow: a graph has 2 to ", max_nodes, " nodes (the node ids the vocabulary names), got ",
                           g.nodes);
  if (g.source >= g.nodes || g.target >= g.nodes)
    fail<invalid_argument>("maxflow: source ", g.source, " or target ", g.target, " is not a node of ", g.nodes);
  if (g.source == g.target) fail<invalid_argument>("maxflow: source and target are both node ", g.source);
  for (std::size_t i = 0; i < g.edges.size(); ++i) {
    const edge& e = g.edges[i];
    if (e.from >= g.nodes || e.to >= g.nodes)
      fail<invalid_argument>("maxflow: edge ", i, " (", e.from, " -> ", e.to, ") names a node past ", g.nodes - 1);
    if (e.from == e.to) fail<invalid_argument>("maxflow: edge ", i, " is a self loop at node ", e.from);
    if (i > 0 && !(g.edges[i - 1] < e))
      fail<invalid_argument>("maxflow: edge ", i, " (", e.from, " -> ", e.to,
                             ") repeats or breaks the (from, to) order of the edge list");
  }
  for (const edge& e : g.edges)
    if (std::binary_search(g.edges.begin(), g.edges.end(), edge{e.to, e.from}))
      fail<invalid_argument>("maxflow: nodes ", std::min(e.from, e.to), " and ", std::max(e.from, e.to),
                             " are joined both ways");
}

/// A maximum flow and the minimum cut it certifies.
struct flow_result {
  std::size_t value = 0;
  std::vector<std::uint8_t> carries;     ///< per edge of the graph: 1 when the edge carries flow
  std::vector<std::uint8_t> source_side; ///< per node: reachable from the source in the final residual graph
  std::vector<std::size_t> cut;          ///< indices of the edges from the source side to the other side
};

/// One BFS of the residual graph of `g` under `carries` (an edge u -> v without flow is open u -> v, one with flow
/// is open v -> u): per node its level (-1 unreached) and parent (the lowest-id node of the level before with an
/// open arc to it; -1 for the source and unreached nodes). Levels are filled layer by layer until a layer reaches
/// nothing new, as the process does.
struct bfs_result {
  std::vector<int> level, parent;
};

[[nodiscard]] inline bfs_result residual_bfs(const graph& g, const std::vector<std::uint8_t>& carries) {
  bfs_result b{std::vector<int>(g.nodes, -1), std::vector<int>(g.nodes, -1)};
  b.level[g.source] = 0;
  for (int depth = 0;; ++depth) {
    bool grew = false;
    for (std::size_t u = 0; u < g.nodes; ++u) {
      if (b.level[u] != depth) continue;
      for (std::size_t i = 0; i < g.edges.size(); ++i) {
        const edge& e = g.edges[i];
        const std::size_t from = carries[i] ? e.to : e.from, to = carries[i] ? e.from : e.to;
        // Nodes are visited in id order, so the first frontier node to reach `to` is its lowest-id parent.
        if (from == u && b.level[to] == -1) {
          b.level[to] = depth + 1;
          b.parent[to] = static_cast<int>(u);
          grew = true;
        }
      }
    }
    if (!grew) return b;
  }
}

/// Edmonds-Karp on `g` (checked): augment along the BFS parent path while the target is reached.
[[nodiscard]] inline flow_result max_flow(const graph& g) {
  check_graph(g);
  flow_result r;
  r.carries.assign(g.edges.size(), 0);
  for (;;) {
    const bfs_result b = residual_bfs(g, r.carries);
    if (b.level[g.target] == -1) {
      r.source_side.resize(g.nodes);
      for (std::size_t v = 0; v < g.nodes; ++v) r.source_side[v] = b.level[v] != -1;
      for (std::size_t i = 0; i < g.edges.size(); ++i)
        if (r.source_side[g.edges[i].from] && !r.source_side[g.edges[i].to]) r.cut.push_back(i);
      return r;
    }
    for (std::size_t v = g.target; v != g.source;) {
      const auto p = static_cast<std::size_t>(b.parent[v]);
      for (std::size_t i = 0; i < g.edges.size(); ++i) {
        const edge& e = g.edges[i];
        if ((e.from == p && e.to == v && !r.carries[i]) || (e.from == v && e.to == p && r.carries[i])) {
          r.carries[i] ^= 1;
          break;
        }
      }
      v = p;
    }
    ++r.value;
  }
}

/// True when `g`'s edges leave no directed path from its source to its target.
[[nodiscard]] inline bool separates(const graph& g) {
  std::vector<std::uint8_t> seen(g.nodes, 0);
  std::deque<std::size_t> todo{g.source};
  seen[g.source] = 1;
  while (!todo.empty()) {
    const std::size_t u = todo.front();
    todo.pop_front();
    for (const edge& e : g.edges)
      if (e.from == u && !seen[e.to]) {
        seen[e.to] = 1;
        todo.push_back(e.to);
      }
  }
  return !seen[g.target];
}

/// The number of edges random_graph draws for `nodes` nodes: [nodes, min(2 nodes, nodes (nodes - 1) / 2)].
[[nodiscard]] constexpr std::pair<std::size_t, std::size_t> edge_count_range(std::size_t nodes) noexcept {
  const std::size_t pairs = nodes * (nodes - 1) / 2;
  return {std::min(nodes, pairs), std::min(2 * nodes, pairs)};
}

/// Instance `index` of the graphs of `nodes` nodes under `seed` (see the file comment); the same (seed, nodes,
/// index) gives the same graph on every machine. Throws invalid_argument for fewer than 3 nodes (no edge count of
/// the range gives a positive flow reliably) or more than max_nodes.
[[nodiscard]] inline graph random_graph(std::size_t nodes, std::uint64_t seed, std::uint64_t index) {
  if (nodes < 3 || nodes > max_nodes)
    apgen::detail::fail<invalid_argument>("maxflow random_graph: nodes must be in [3, ", max_nodes, "], got ", nodes);
  const counter_rng rng(seed, rng_stream::user);
  const std::uint64_t key = index * max_nodes + nodes; // one key per (index, nodes)
  const auto [lo, hi] = edge_count_range(nodes);
  for (std::uint32_t attempt = 0;; ++attempt) {
    std::uint32_t draw = 0;
    auto below = [&](std::size_t n) {
      return static_cast<std::size_t>(rng.below(static_cast<std::uint32_t>(n), key, draw++, attempt));
    };
    graph g;
    g.nodes = nodes;
    g.source = below(nodes);
    g.target = (g.source + 1 + below(nodes - 1)) % nodes;
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    for (std::size_t u = 0; u < nodes; ++u)
      for (std::size_t v = u + 1; v < nodes; ++v) pairs.emplace_back(u, v);
    const std::size_t m = lo + below(hi - lo + 1);
    for (std::size_t i = 0; i < m; ++i) { // a partial Fisher-Yates shuffle picks m distinct pairs
      std::swap(pairs[i], pairs[i + below(pairs.size() - i)]);
      const auto [u, v] = pairs[i];
      g.edges.push_back(below(2) ? edge{u, v} : edge{v, u});
    }
    std::sort(g.edges.begin(), g.edges.end());
    if (max_flow(g).value > 0) return g;
  }
}

/// The task's splits. Each is its own seed of random_graph, so a split is a fixed list the same on every machine:
/// instance(split::test, 6, k) is test graph k of 6 nodes. On few nodes the splits share graphs (there are only
/// about 6,000 instances of 4 nodes), so training sets drop the graphs of the held-out splits (tasks/maxflow
/// learned setups do).
enum class split : std::uint8_t { train, dev, test };

[[nodiscard]] constexpr std::uint64_t split_seed(split s) noexcept {
  return 1000 + static_cast<std::uint64_t>(s);
}

[[nodiscard]] inline graph instance(split s, std::size_t nodes, std::uint64_t index) {
  return random_graph(nodes, split_seed(s), index);
}

} // namespace apgen::tasks::maxflow
