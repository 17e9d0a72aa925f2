#pragma once
/// \file
/// Max-flow / min-cut as an AP-MDM task: the tokens, the starting row of a graph, the states the process writes
/// (parsed and checked), and the verifier of a final sequence.
///
/// A state is
///   PROMPT SRC s TGT t GRAPH ( u v S1 S2 ) ... NODES ( id LVL PAR ) ... [EOA] [EOS]
/// as in the released generator: an edge's slots are `FB [MASK]` while it carries no flow (the residual graph is
/// open u -> v) and `[MASK] FB` once it does (open v -> u); a node's level is `[LVLk]` (BFS depth k) or `[INF]`
/// (unreached) and its parent `[NIL]` or the parent's id. The starting row has no slots (`( u v )`, `( id )`); an
/// edge of the cut is first remasked whole (six MASKs) and then deleted; `[EOA]` and `[EOS]` are appended by
/// insert. The vocabulary is the released one's 53 tokens with one departure: MASK is id 0 (apgen's canvas and
/// models take any mask id, but every other task here puts it first), so PROMPT .. [EOS] sit one above their
/// released ids and everything from `(` (7) on keeps its id.

#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/tasks/maxflow/graph.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace apgen::tasks::maxflow {

/// Token ids of make_vocabulary().
namespace tokens {
inline constexpr token_id mask = 0, prompt = 1, src = 2, tgt = 3, graph = 4, nodes = 5, eos = 6, open = 7, close = 8,
                          fb = 9, eoa = 10, inf = 11, nil = 12;
inline constexpr std::size_t levels = 20; ///< [LVL0] .. [LVL19]
[[nodiscard]] constexpr token_id level(std::size_t k) noexcept {
  return 13 + static_cast<token_id>(k);
}
[[nodiscard]] constexpr token_id node(std::size_t v) noexcept {
  return 33 + static_cast<token_id>(v);
}
[[nodiscard]] constexpr bool is_level(token_id t) noexcept {
  return t >= 13 && t < 33;
}
[[nodiscard]] constexpr bool is_node(token_id t) noexcept {
  return t >= 33 && t < 53;
}
[[nodiscard]] constexpr std::size_t level_of(token_id t) noexcept {
  return static_cast<std::size_t>(t - 13);
}
[[nodiscard]] constexpr std::size_t node_of(token_id t) noexcept {
  return static_cast<std::size_t>(t - 33);
}
inline constexpr std::size_t count = 53;
} // namespace tokens

/// MASK, then PROMPT SRC TGT GRAPH NODES [EOS] ( ) FB [EOA] [INF] [NIL] [LVL0..19] "0".."19": 53 ids.
[[nodiscard]] inline vocabulary make_vocabulary() {
  std::vector<std::string> s{"PROMPT", "SRC", "TGT", "GRAPH", "NODES", "[EOS]",
                             "(",      ")",   "FB",  "[EOA]", "[INF]", "[NIL]"};
  for (std::size_t k = 0; k < tokens::levels; ++k) s.push_back("[LVL" + std::to_string(k) + "]");
  for (std::size_t v = 0; v < max_nodes; ++v) s.push_back(std::to_string(v));
  return vocabulary(s, special_names{"[MASK]", "", "", ""});
}

/// A token's text in at most three characters, for pictures: P s t G N for the header words, M for MASK, L<k>
/// for levels, "inf", "nil", "EOA", "EOS", and the vocabulary's text otherwise.
[[nodiscard]] inline std::string short_label(token_id t) {
  switch (t) {
  case tokens::mask:
    return "M";
  case tokens::prompt:
    return "P";
  case tokens::src:
    return "s";
  case tokens::tgt:
    return "t";
  case tokens::graph:
    return "G";
  case tokens::nodes:
    return "N";
  case tokens::eos:
    return "EOS";
  case tokens::open:
    return "(";
  case tokens::close:
    return ")";
  case tokens::fb:
    return "FB";
  case tokens::eoa:
    return "EOA";
  case tokens::inf:
    return "inf";
  case tokens::nil:
    return "nil";
  default:
    break;
  }
  if (tokens::is_level(t)) return "L" + std::to_string(tokens::level_of(t));
  if (tokens::is_node(t)) return std::to_string(tokens::node_of(t));
  return "?";
}

/// Tokens before the first edge (PROMPT SRC s TGT t GRAPH): they never change, so a canvas may lock them.
inline constexpr std::size_t header_length = 6;

/// The starting row of `g` (checked): PROMPT SRC s TGT t GRAPH ( u v ) ... NODES ( 0 ) ( 1 ) ...
[[nodiscard]] inline std::vector<token_id> prompt(const graph& g) {
  check_graph(g);
  std::vector<token_id> row{tokens::prompt,         tokens::src,  tokens::node(g.source), tokens::tgt,
                            tokens::node(g.target), tokens::graph};
  for (const edge& e : g.edges)
    row.insert(row.end(), {tokens::open, tokens::node(e.from), tokens::node(e.to), tokens::close});
  row.push_back(tokens::nodes);
  for (std::size_t v = 0; v < g.nodes; ++v) row.insert(row.end(), {tokens::open, tokens::node(v), tokens::close});
  return row;
}

/// The longest row the process writes for a graph of `nodes` nodes and `edges` edges: every slot in place and
/// [EOA] appended (the [EOS] is inserted in the step that deletes at least one cut edge).
[[nodiscard]] constexpr std::size_t row_capacity(std::size_t nodes, std::size_t edges) noexcept {
  return header_length + 6 * edges + 1 + 5 * nodes + 2;
}

/// One edge group of a state. `marked`: the six tokens of a cut edge after they were remasked (the group then
/// says nothing of its edge; from, to and the slots are left 0).
struct edge_group {
  std::size_t at = 0; ///< position of its first token
  bool marked = false;
  std::size_t from = 0, to = 0;
  std::size_t slots = 0; ///< 0, 1 or 2
  token_id s1 = tokens::mask, s2 = tokens::mask;
  [[nodiscard]] bool carries() const noexcept { return slots == 2 && s2 == tokens::fb; }
};

/// One node group: `( id )`, `( id S )` or `( id LVL PAR )`.
struct node_group {
  std::size_t at = 0;
  std::size_t id = 0;
  std::size_t slots = 0;
  token_id level = tokens::mask, parent = tokens::mask;
};

/// What follows the last node group.
enum class tail_kind : std::uint8_t { none, mask, eoa, eoa_mask, eoa_eos };

/// A state, parsed.
struct state {
  std::size_t source = 0, target = 0;
  std::vector<edge_group> edges;
  std::size_t nodes_at = 0; ///< position of NODES
  std::vector<node_group> nodes;
  tail_kind tail = tail_kind::none;
  std::size_t tail_at = 0; ///< position of the first tail token (the row's length when there is none)
};

/// Parses `row` into its groups. Throws invalid_token naming the position and what was expected when the row is
/// not of the state grammar: the header, then edge groups (`( u v )`, `( u v [MASK] )`, `( u v FB [MASK] )`,
/// `( u v [MASK] FB )`, or six MASKs), NODES, node groups with ids 0, 1, ... in order (`( id )`, `( id S )`,
/// `( id LVL PAR )` with LVL a level, [INF] or MASK and PAR [NIL], a node id or MASK), then the tail. It also
/// checks that source, target and edge endpoints are nodes of the row and source != target.
[[nodiscard]] inline state parse_state(std::span<const token_id> row) {
  using apgen::detail::fail;
  std::size_t i = 0;
  auto bad = [&](std::size_t at, const char* expected) {
    if (at >= row.size())
      fail<invalid_token>("maxflow state: the row ends at position ", at, " where ", expected, " should follow");
    fail<invalid_token>("maxflow state: position ", at, " holds token ", row[at], " where ", expected, " should stand");
  };
  auto take = [&](token_id want, const char* what) {
    if (i >= row.size() || row[i] != want) bad(i, what);
    ++i;
  };
  auto take_node = [&](const char* what) -> std::size_t {
    if (i >= row.size() || !tokens::is_node(row[i])) bad(i, what);
    return tokens::node_of(row[i++]);
  };
  auto at = [&](std::size_t p) { return p < row.size() ? row[p] : token_id{-1}; };
  for (const token_id t : row)
    if (t < 0 || static_cast<std::size_t>(t) >= tokens::count)
      fail<invalid_token>("maxflow state: token ", t, " is not in the vocabulary of ", tokens::count);
  state s;
  take(tokens::prompt, "PROMPT");
  take(tokens::src, "SRC");
  s.source = take_node("the source's id");
  take(tokens::tgt, "TGT");
  s.target = take_node("the target's id");
  take(tokens::graph, "GRAPH");
  while (at(i) != tokens::nodes) {
    edge_group e;
    e.at = i;
    if (at(i) == tokens::mask) {
      for (std::size_t k = 0; k < 6; ++k)
        if (at(i + k) != tokens::mask) bad(i + k, "a MASK of a remasked cut edge (six MASKs)");
      e.marked = true;
      i += 6;
      s.edges.push_back(e);
      continue;
    }
    take(tokens::open, "an edge's \"(\", a remasked edge or NODES");
    e.from = take_node("the edge's first node");
    e.to = take_node("the edge's second node");
    while (at(i) == tokens::fb || at(i) == tokens::mask) {
      if (e.slots == 2) bad(i, "the edge's \")\" (an edge has at most two slots)");
      (e.slots == 0 ? e.s1 : e.s2) = row[i++];
      ++e.slots;
    }
    if ((e.slots == 1 && e.s1 != tokens::mask) || (e.slots == 2 && (e.s1 == tokens::fb) == (e.s2 == tokens::fb)))
      bad(e.at + 3, "edge slots of the forms [MASK], FB [MASK] or [MASK] FB");
    take(tokens::close, "the edge's \")\"");
    s.edges.push_back(e);
  }
  s.nodes_at = i++;
  while (at(i) == tokens::open) {
    node_group n;
    n.at = i++;
    n.id = take_node("the node's id");
    if (n.id != s.nodes.size()) bad(n.at + 1, "the next node id (nodes are listed 0, 1, ... in order)");
    if (at(i) != tokens::close) {
      n.slots = 1;
      n.level = at(i);
      if (at(i + 1) != tokens::close) {
        n.slots = 2;
        n.parent = at(i + 1);
      }
    }
    if (n.slots == 1 && n.level != tokens::mask) bad(i, "a MASK (a node's one slot is its level to be written)");
    if (n.slots == 2) {
      if (n.level != tokens::mask && n.level != tokens::inf && !tokens::is_level(n.level))
        bad(i, "a level, [INF] or MASK");
      if (n.parent != tokens::mask && n.parent != tokens::nil && !tokens::is_node(n.parent))
        bad(i + 1, "a parent: [NIL], a node id or MASK");
    }
    i += n.slots;
    take(tokens::close, "the node's \")\"");
    s.nodes.push_back(n);
  }
  s.tail_at = i;
  const std::size_t rest = row.size() - i;
  if (rest == 0)
    s.tail = tail_kind::none;
  else if (rest == 1 && row[i] == tokens::mask)
    s.tail = tail_kind::mask;
  else if (row[i] != tokens::eoa || (rest > 1 && row[i + 1] != tokens::mask && row[i + 1] != tokens::eos))
    bad(row[i] != tokens::eoa ? i : i + 1, "a node's \"(\", or the end: [MASK], [EOA], [EOA] [MASK] or [EOA] [EOS]");
  else if (rest > 2)
    bad(i + 2, "nothing (the row ends after [EOA] and one more token)");
  else if (rest == 1)
    s.tail = tail_kind::eoa;
  else
    s.tail = row[i + 1] == tokens::mask ? tail_kind::eoa_mask : tail_kind::eoa_eos;
  const std::size_t n = s.nodes.size();
  if (s.source >= n || s.target >= n)
    fail<invalid_token>("maxflow state: source ", s.source, " or target ", s.target, " is not one of the ", n,
                        " nodes");
  if (s.source == s.target) fail<invalid_token>("maxflow state: source and target are both node ", s.source);
  for (const edge_group& e : s.edges)
    if (!e.marked && (e.from >= n || e.to >= n || e.from == e.to))
      fail<invalid_token>("maxflow state: the edge at position ", e.at, " joins ", e.from, " and ", e.to,
                          ", not two distinct nodes of ", n);
  for (const node_group& g : s.nodes)
    if (g.slots == 2 && tokens::is_node(g.parent) && tokens::node_of(g.parent) >= n)
      fail<invalid_token>("maxflow state: the parent of node ", g.id, " is not one of the ", n, " nodes");
  return s;
}

/// How a final sequence fares against its graph (verify). `problem` is empty when it passes, else the first
/// check it fails, in words.
struct verdict {
  bool well_formed = false; ///< parses, is finished ([EOA] [EOS], every slot filled) and keeps the header and nodes
  bool untouched = false;   ///< the surviving edges are the graph's, in order, none altered
  bool separates = false;   ///< no directed path from source to target along the surviving edges
  bool minimum = false;     ///< the number of deleted edges equals the max flow
  std::string problem;
  [[nodiscard]] bool passed() const noexcept { return problem.empty(); }
};

/// Checks a final sequence of the process on `g` (checked): it must be a finished state of `g`'s header and
/// nodes whose edges are `g`'s with some deleted, whose surviving edges leave no path from source to target, and
/// whose deleted edges number the max flow (so they are a minimum cut). Never throws for a bad row: a model's
/// output is judged, not trusted.
[[nodiscard]] inline verdict verify(const graph& g, std::span<const token_id> row) {
  verdict v;
  const flow_result flow = max_flow(g);
  state s;
  try {
    s = parse_state(row);
  } catch (const invalid_token& e) {
    v.problem = std::string("malformed: ") + e.what();
    return v;
  }
  if (s.tail != tail_kind::eoa_eos) {
    v.problem = "not finished: the row does not end with [EOA] [EOS]";
    return v;
  }
  if (s.source != g.source || s.target != g.target || s.nodes.size() != g.nodes) {
    v.problem = "the header or the node list is not the graph's";
    return v;
  }
  for (const edge_group& e : s.edges)
    if (e.marked || e.slots != 2) {
      v.problem = "an edge at position " + std::to_string(e.at) + " is remasked or without its slots";
      return v;
    }
  for (const node_group& n : s.nodes)
    if (n.slots != 2 || n.level == tokens::mask || n.parent == tokens::mask) {
      v.problem = "node " + std::to_string(n.id) + " has a slot not written";
      return v;
    }
  v.well_formed = true;
  graph left;
  left.nodes = g.nodes;
  left.source = g.source;
  left.target = g.target;
  std::size_t next = 0; // the surviving edges must be a subsequence of g's, in order
  for (const edge_group& e : s.edges) {
    while (next < g.edges.size() && !(g.edges[next] == edge{e.from, e.to})) ++next;
    if (next == g.edges.size()) {
      v.problem = "the edge " + std::to_string(e.from) + " -> " + std::to_string(e.to) + " at position " +
                  std::to_string(e.at) + " is not one of the graph's, or is out of order or repeated";
      return v;
    }
    left.edges.push_back(g.edges[next++]);
  }
  v.untouched = true;
  v.separates = separates(left);
  v.minimum = g.edges.size() - left.edges.size() == flow.value;
  if (!v.separates)
    v.problem = "the surviving edges still join source to target";
  else if (!v.minimum)
    v.problem = std::to_string(g.edges.size() - left.edges.size()) + " edges deleted, the max flow is " +
                std::to_string(flow.value);
  return v;
}

} // namespace apgen::tasks::maxflow
