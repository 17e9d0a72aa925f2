#pragma once
/// \file
/// Edmonds-Karp and the min-cut deletion as AP-MDM steps: `next_step` reads a state (task.hpp) and gives every
/// position its move (the token a MASK becomes, and the remask, insert and delete bits). The phase is read from the
/// row alone, so a model that sees only the row can learn it:
///   slots     edges `( u v )`: insert a MASK after v and after each node id;
///   fill      edges `( u v [MASK] )`: unmask the slot to FB (edges) or the level (LVL0 at the source, [INF]
///             elsewhere) and insert a MASK after it;
///   parents   every node `( id LVL [MASK] )`: unmask the parents to [NIL];
///   mark      no MASK among the nodes, not ended, and nodes at [INF] with an open residual arc from a node of the
///             deepest level k: remask their level and parent (one BFS layer; lowest-id parents);
///   write     some levels masked, the source's not: unmask them to LVL(k+1) and the lowest-id level-k node with an
///             open arc to the node;
///   trace     the BFS reaches nothing new and the target has a level: remask the target's level, which makes
///             it the walk's cursor (the one node with its level masked and its parent kept);
///   flip      a cursor c with parent p: flip the slots of the edge of the residual arc p -> c (FB -> MASK is a
///             remask, MASK -> FB an unmask of the same step), then remask c's parent and p's level (p is the next
///             cursor), or every level and parent when p is the source;
///   reset     the source's level masked: unmask every level (LVL0 at the source, [INF] elsewhere) and parent [NIL];
///   append    the BFS reaches nothing new and the target is at [INF]: insert a MASK after the last token;
///   end_mark  the row ends with that MASK: unmask it to [EOA];
///   cut       the row ends with [EOA], nothing remasked: remask all six tokens of every edge from a reached node
///             to an unreached one (the cut of the last BFS);
///   erase     the row ends with [EOA] and holds remasked edges (or the cut is empty): delete their MASKs and
///             insert a MASK after [EOA];
///   end       the row ends with [EOA] [MASK]: unmask it to [EOS];
///   done      [EOA] [EOS]: nothing changes (the fixed point).
/// The augmenting path is walked one edge a step, from the target back to the source, where the released generator
/// flips the whole path in one step: there, whether an edge is on the path depends on a chain of parent pointers as
/// long as the path (up to n - 1 hops), more than a transformer of a few layers follows in one pass (a 4-layer model
/// trained on it got 2 of 111 flip steps right, README.md); here each step needs only the cursor's parent, one hop
/// away.
/// A MASK that must stay masked (the empty slot of every edge, and any MASK a step does not write) has its remask
/// bit set: Algorithm 1 unmasks every MASK that is not remasked, so the placeholder is kept by remasking it each
/// step. Every step's MASKs after the step come from a remask or an insert.

#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/tasks/maxflow/graph.hpp>
#include <apgen/tasks/maxflow/task.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace apgen::tasks::maxflow {

enum class phase : std::uint8_t {
  slots,
  fill,
  parents,
  mark,
  write,
  trace,
  flip,
  reset,
  append,
  end_mark,
  cut,
  erase,
  end,
  done
};

[[nodiscard]] constexpr std::string_view to_string(phase p) noexcept {
  constexpr std::string_view names[] = {"slots", "fill",   "parents",  "mark", "write", "trace", "flip",
                                        "reset", "append", "end_mark", "cut",  "erase", "end",   "done"};
  return names[static_cast<std::size_t>(p)];
}

/// One position's move: the token it holds after the step unless a bit says otherwise (for a MASK: what it is
/// unmasked to; ignored when remask or erase is set), and its bits.
struct move {
  token_id token = tokens::mask;
  bool remask = false, insert = false, erase = false;
};

struct process_step {
  phase kind = phase::done;
  std::vector<move> moves;
};

namespace detail {
/// The residual arc of an edge group: open from -> to without flow, to -> from with it.
[[nodiscard]] inline std::pair<std::size_t, std::size_t> residual_arc(const edge_group& e) noexcept {
  return e.carries() ? std::pair{e.to, e.from} : std::pair{e.from, e.to};
}
} // namespace detail

/// The step the process takes from `row`. Throws invalid_token (parse_state's, or naming the inconsistency: edges
/// or nodes at different stages, a masked level with no parent the BFS allows, a broken parent path) when the row
/// is not a state the process reaches.
[[nodiscard]] inline process_step next_step(std::span<const token_id> row) {
  using apgen::detail::fail;
  const state s = parse_state(row);
  process_step step;
  step.moves.resize(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    step.moves[i].token = row[i];
    step.moves[i].remask = row[i] == tokens::mask; // placeholders stay masked unless a phase writes them
  }
  auto write = [&](std::size_t at, token_id t) {
    step.moves[at].token = t;
    step.moves[at].remask = false;
  };
  auto remask = [&](std::size_t at) { step.moves[at].remask = true; };
  const std::size_t n = s.nodes.size();
  auto start_level = [&](std::size_t v) { return v == s.source ? tokens::level(0) : tokens::inf; };

  // Edges and nodes move through the slot phases together; a row that mixes stages is not the process's.
  std::optional<std::size_t> edge_stage, node_stage;
  bool any_marked = false;
  for (const edge_group& e : s.edges) {
    any_marked |= e.marked;
    if (e.marked) continue;
    if (edge_stage && *edge_stage != e.slots)
      fail<invalid_token>("maxflow process: the edge at position ", e.at, " has ", e.slots, " slots, the ones before ",
                          *edge_stage);
    edge_stage = e.slots;
  }
  for (const node_group& g : s.nodes) {
    if (node_stage && *node_stage != g.slots)
      fail<invalid_token>("maxflow process: node ", g.id, " has ", g.slots, " slots, the ones before ", *node_stage);
    node_stage = g.slots;
  }
  const std::size_t stage = node_stage.value_or(edge_stage.value_or(2));
  if ((edge_stage && *edge_stage != stage) || (stage < 2 && (s.tail != tail_kind::none || any_marked)) ||
      (any_marked && s.tail != tail_kind::eoa))
    fail<invalid_token>("maxflow process: edges with ", edge_stage.value_or(0), " slots, nodes with ", stage,
                        (any_marked ? " and remasked edges" : ""), " are not a state the process reaches");

  if (stage == 0) {
    step.kind = phase::slots;
    for (const edge_group& e : s.edges) step.moves[e.at + 2].insert = true;
    for (const node_group& g : s.nodes) step.moves[g.at + 1].insert = true;
    return step;
  }
  if (stage == 1) {
    step.kind = phase::fill;
    for (const edge_group& e : s.edges) {
      write(e.at + 3, tokens::fb);
      step.moves[e.at + 3].insert = true;
    }
    for (const node_group& g : s.nodes) {
      write(g.at + 2, start_level(g.id));
      step.moves[g.at + 2].insert = true;
    }
    return step;
  }

  const bool parents_masked = n > 0 && s.nodes[0].parent == tokens::mask && s.nodes[0].level != tokens::mask;
  if (parents_masked) {
    step.kind = phase::parents;
    for (const node_group& g : s.nodes) {
      if (g.parent != tokens::mask || g.level == tokens::mask)
        fail<invalid_token>("maxflow process: node ", g.id, " is not (level, [MASK]) while node 0 is");
      write(g.at + 3, tokens::nil);
    }
    return step;
  }

  // Levels as numbers (-1: [INF], -2: masked) and the residual arcs.
  std::vector<int> level(n);
  bool any_masked = false;
  const node_group* cursor = nullptr; // the walk's: level masked, parent kept
  for (const node_group& g : s.nodes) {
    level[g.id] = g.level == tokens::mask  ? -2
                  : g.level == tokens::inf ? -1
                                           : static_cast<int>(tokens::level_of(g.level));
    if (g.level != tokens::mask && g.parent == tokens::mask)
      fail<invalid_token>("maxflow process: node ", g.id, " has its parent masked and its level not");
    if (g.level == tokens::mask && g.parent != tokens::mask) {
      if (cursor != nullptr)
        fail<invalid_token>("maxflow process: nodes ", cursor->id, " and ", g.id,
                            " both have their level masked and their parent kept");
      cursor = &g;
    }
    any_masked |= g.level == tokens::mask;
  }
  if (any_masked && s.tail != tail_kind::none)
    fail<invalid_token>("maxflow process: masked node fields after the end marker");
  auto open_arc = [&](std::size_t from, std::size_t to) {
    for (const edge_group& e : s.edges)
      if (!e.marked && detail::residual_arc(e) == std::pair{from, to}) return true;
    return false;
  };
  int deepest = -1;
  for (const int l : level) deepest = std::max(deepest, l);
  // The lowest-id node of level `k` with an open arc to v, or n when there is none.
  auto parent_of = [&](std::size_t v, int k) {
    for (std::size_t u = 0; u < n; ++u)
      if (level[u] == k && open_arc(u, v)) return u;
    return n;
  };

  if (cursor != nullptr) {
    step.kind = phase::flip;
    const std::size_t c = cursor->id;
    if (!tokens::is_node(cursor->parent) || c == s.source)
      fail<invalid_token>("maxflow process: the walk's cursor, node ", c, ", has no parent to walk to");
    const std::size_t p = tokens::node_of(cursor->parent);
    const edge_group* used = nullptr;
    for (const edge_group& e : s.edges)
      if (!e.marked && detail::residual_arc(e) == std::pair{p, c}) used = &e;
    if (used == nullptr) fail<invalid_token>("maxflow process: no open arc from node ", p, " to its child ", c);
    // FB [MASK] -> [MASK] FB or back: the FB slot is remasked, the MASK slot unmasked to FB.
    const std::size_t fb_at = used->at + (used->s1 == tokens::fb ? 3 : 4);
    const std::size_t mask_at = used->at + (used->s1 == tokens::fb ? 4 : 3);
    remask(fb_at);
    write(mask_at, tokens::fb);
    if (p == s.source) {
      for (const node_group& g : s.nodes) {
        remask(g.at + 2);
        remask(g.at + 3);
      }
    } else {
      if (level[p] < 0) fail<invalid_token>("maxflow process: the walk reaches node ", p, ", which has no level");
      remask(cursor->at + 3);
      remask(s.nodes[p].at + 2);
    }
    return step;
  }
  if (any_masked) {
    if (level[s.source] == -2) {
      step.kind = phase::reset;
      for (const node_group& g : s.nodes) {
        if (g.level != tokens::mask)
          fail<invalid_token>("maxflow process: node ", g.id, " keeps its level while the source's is masked");
        write(g.at + 2, start_level(g.id));
        write(g.at + 3, tokens::nil);
      }
      return step;
    }
    step.kind = phase::write;
    for (const node_group& g : s.nodes) {
      if (g.level != tokens::mask) continue;
      const std::size_t p = parent_of(g.id, deepest);
      if (p == n || deepest < 0 || static_cast<std::size_t>(deepest + 1) >= tokens::levels)
        fail<invalid_token>("maxflow process: node ", g.id, " is masked but no node of level ", deepest,
                            " has an open arc to it");
      write(g.at + 2, tokens::level(static_cast<std::size_t>(deepest + 1)));
      write(g.at + 3, tokens::node(p));
    }
    return step;
  }

  if (s.tail == tail_kind::none) {
    bool grows = false;
    for (const node_group& g : s.nodes)
      if (level[g.id] == -1 && deepest >= 0 && parent_of(g.id, deepest) != n) {
        remask(g.at + 2);
        remask(g.at + 3);
        grows = true;
      }
    if (grows) {
      step.kind = phase::mark;
      return step;
    }
    if (level[s.target] >= 0) {
      step.kind = phase::trace;
      remask(s.nodes[s.target].at + 2);
      return step;
    }
    step.kind = phase::append;
    step.moves.back().insert = true;
    return step;
  }
  switch (s.tail) {
  case tail_kind::mask:
    step.kind = phase::end_mark;
    write(s.tail_at, tokens::eoa);
    return step;
  case tail_kind::eoa: {
    std::vector<const edge_group*> cut;
    for (const edge_group& e : s.edges)
      if (!e.marked && level[e.from] >= 0 && level[e.to] == -1) cut.push_back(&e);
    if (!any_marked && !cut.empty()) {
      step.kind = phase::cut;
      for (const edge_group* e : cut)
        for (std::size_t k = 0; k < 6; ++k) remask(e->at + k);
      return step;
    }
    step.kind = phase::erase;
    for (const edge_group& e : s.edges)
      if (e.marked)
        for (std::size_t k = 0; k < 6; ++k) {
          step.moves[e.at + k].erase = true;
          step.moves[e.at + k].remask = false;
        }
    step.moves[s.tail_at].insert = true;
    return step;
  }
  case tail_kind::eoa_mask:
    step.kind = phase::end;
    write(s.tail_at + 1, tokens::eos);
    return step;
  case tail_kind::eoa_eos:
  case tail_kind::none:
    break;
  }
  step.kind = phase::done;
  return step;
}

/// `row` after `step` by Algorithm 1 (for statistics and tests; generation goes through apply_transition):
/// left to right, a MASK with erase is dropped, else remask gives MASK, else a MASK becomes its token, and an
/// insert puts a MASK after the position.
[[nodiscard]] inline std::vector<token_id> apply_step(std::span<const token_id> row, const process_step& step) {
  std::vector<token_id> out;
  out.reserve(row.size() + 8);
  for (std::size_t i = 0; i < row.size(); ++i) {
    const move& m = step.moves[i];
    if (row[i] == tokens::mask && m.erase) continue;
    out.push_back(m.remask ? tokens::mask : row[i] == tokens::mask ? m.token : row[i]);
    if (m.insert) out.push_back(tokens::mask);
  }
  return out;
}

} // namespace apgen::tasks::maxflow
