#pragma once
/// \file
/// What a model is told about each position of a max-flow state besides its token: the position's role in the
/// state grammar (task.hpp) and the nodes of the group it stands in, and which tokens it may be unmasked to. All of
/// it is read from the row, so the process needs nothing the model cannot see; it is read leniently, because a
/// model's own rows may break the grammar, and a position the reading cannot place gets role `other` and any token.
///
/// Features (feature_schema order): role (15 ids), the group's first node + 1 (an edge's u, a node group's id; 0
/// outside groups), the group's second node + 1 (an edge's v; 0 elsewhere), and which of those nodes are the
/// header's source and target (endpoint_code). With them an edge slot knows its edge's ends and a node's level slot
/// its node without counting parentheses, and whether it stands for s or t without matching its node against the
/// header's (a 4-layer model without the last feature took thousands of steps to start the source at [LVL0]). Allowed
/// sets: an edge slot may become FB only, a node's level slot a level or [INF], its parent slot [NIL] or a node id, a
/// tail position [EOA] or [EOS].

#include <apgen/core/row_encoding.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/tasks/maxflow/graph.hpp>
#include <apgen/tasks/maxflow/task.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace apgen::tasks::maxflow {

/// A position's role (feature 0).
enum class role : std::uint8_t {
  other,
  header,
  open,
  close,
  edge_from,
  edge_to,
  edge_slot1,
  edge_slot2,
  marked, ///< a MASK of a remasked cut edge
  nodes_word,
  node_id,
  node_level,
  node_parent,
  tail_first,
  tail_second,
};
inline constexpr std::size_t role_count = 15;

/// The roles and group nodes of every position of `row`, read leniently (see the file comment).
struct position_roles {
  std::vector<role> roles;
  std::vector<std::uint8_t> first, second; ///< node + 1, 0 for none
};

[[nodiscard]] inline position_roles read_roles(std::span<const token_id> row) {
  const std::size_t n = row.size();
  position_roles out{std::vector<role>(n, role::other), std::vector<std::uint8_t>(n, 0),
                     std::vector<std::uint8_t>(n, 0)};
  auto at = [&](std::size_t p) { return p < n ? row[p] : token_id{-1}; };
  auto node_plus_one = [&](std::size_t p) {
    return static_cast<std::uint8_t>(tokens::is_node(at(p)) ? tokens::node_of(at(p)) + 1 : 0);
  };
  std::size_t i = 0;
  for (; i < std::min(header_length, n); ++i) out.roles[i] = role::header;
  bool in_nodes = false;
  std::size_t tail = 0;
  while (i < n) {
    const token_id t = row[i];
    if (!in_nodes && t == tokens::nodes) {
      out.roles[i++] = role::nodes_word;
      in_nodes = true;
      continue;
    }
    if (!in_nodes && t == tokens::mask) {
      out.roles[i++] = role::marked;
      continue;
    }
    if (t != tokens::open) {
      if (in_nodes && tail < 2) out.roles[i] = tail++ == 0 ? role::tail_first : role::tail_second;
      ++i;
      continue;
    }
    // A group: "(", one or two nodes, up to two slots, ")". Stop at the first token that does not fit; the
    // positions read so far keep their roles.
    const std::size_t start = i;
    const std::uint8_t a = node_plus_one(i + 1);
    const std::uint8_t b = in_nodes ? 0 : node_plus_one(i + 2);
    std::size_t p = i + 1;
    std::vector<role> inside;
    if (a == 0) {
      ++i;
      continue;
    }
    inside.push_back(in_nodes ? role::node_id : role::edge_from);
    ++p;
    if (!in_nodes) {
      if (b == 0) {
        ++i;
        continue;
      }
      inside.push_back(role::edge_to);
      ++p;
    }
    const role slot_roles[2] = {in_nodes ? role::node_level : role::edge_slot1,
                                in_nodes ? role::node_parent : role::edge_slot2};
    for (std::size_t s = 0; s < 2 && p < n && at(p) != tokens::close && at(p) != tokens::open; ++s, ++p)
      inside.push_back(slot_roles[s]);
    if (at(p) != tokens::close) {
      ++i;
      continue;
    }
    out.roles[start] = role::open;
    for (std::size_t k = 0; k < inside.size(); ++k) out.roles[start + 1 + k] = inside[k];
    out.roles[p] = role::close;
    for (std::size_t k = start; k <= p; ++k) {
      out.first[k] = a;
      out.second[k] = b;
    }
    i = p + 1;
  }
  return out;
}

/// How a group's nodes stand to the header's source and target: 3 * e(second) + e(first), e(x) 1 for the source,
/// 2 for the target, 0 otherwise (and for no node). `first`, `second` are node + 1 (0: none), as position_roles
/// holds them; `row` supplies the header (a row too short or with non-node ids there names no endpoint).
inline constexpr std::size_t endpoint_codes = 9;
[[nodiscard]] inline token_id endpoint_code(std::span<const token_id> row, std::uint8_t first, std::uint8_t second) {
  auto header_node = [&](std::size_t at) {
    return at < row.size() && tokens::is_node(row[at]) ? static_cast<int>(tokens::node_of(row[at])) + 1 : -1;
  };
  const int s = header_node(2), t = header_node(4);
  auto e = [&](std::uint8_t x) { return x == 0 ? 0 : x == s ? 1 : x == t ? 2 : 0; };
  return static_cast<token_id>(3 * e(second) + e(first));
}

/// The task_encoder of the max-flow states (core/row_encoding.hpp).
struct state_encoder {
  [[nodiscard]] feature_schema schema() const {
    feature_schema s;
    s.feature_vocab_sizes = {role_count, max_nodes + 1, max_nodes + 1, endpoint_codes};
    s.allowed_sets.resize(4);
    s.allowed_sets[0] = {tokens::fb};
    s.allowed_sets[1].push_back(tokens::inf);
    for (std::size_t k = 0; k < tokens::levels; ++k) s.allowed_sets[1].push_back(tokens::level(k));
    s.allowed_sets[2].push_back(tokens::nil);
    for (std::size_t v = 0; v < max_nodes; ++v) s.allowed_sets[2].push_back(tokens::node(v));
    s.allowed_sets[3] = {tokens::eos, tokens::eoa};
    return s;
  }

  void encode(std::span<const token_id> row, row_encoding& out) const {
    const position_roles r = read_roles(row);
    const std::size_t n = row.size();
    out.features.assign(4, std::vector<token_id>(n, 0));
    out.allowed.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      out.features[0][i] = static_cast<token_id>(r.roles[i]);
      out.features[1][i] = r.first[i];
      out.features[2][i] = r.second[i];
      out.features[3][i] = endpoint_code(row, r.first[i], r.second[i]);
      switch (r.roles[i]) {
      case role::edge_slot1:
      case role::edge_slot2:
        out.allowed[i] = 1;
        break;
      case role::node_level:
        out.allowed[i] = 2;
        break;
      case role::node_parent:
        out.allowed[i] = 3;
        break;
      case role::tail_first:
      case role::tail_second:
        out.allowed[i] = 4;
        break;
      default:
        break;
      }
    }
  }
};

} // namespace apgen::tasks::maxflow
