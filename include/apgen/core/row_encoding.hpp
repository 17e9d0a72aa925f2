#pragma once
/// \file
/// What a task tells the model and the token choice about a row besides its tokens: per-position feature ids (the
/// model adds one embedding per feature: a Sudoku cell's row, column and box; a graph slot's role) and, where a
/// task needs them, per-position allowed-token sets (a level slot takes level tokens only). A task's encoder
/// produces both from the row alone, once per row and step, and the same encoding flows everywhere a row is read:
/// the generator hands it to the denoiser and to the token pass, the teacher stores it in each transition record,
/// the trajectory format carries it, and a training example reads it from the record. Training and generation
/// therefore see the same features and restrict the same softmax.
///
/// Allowed sets are classes: position i's class is 0 (any token the head can produce) or s + 1 (only the ids of
/// schema.allowed_sets[s]). A handful of sets describes a task, so a row stores one small number per position.
///
/// Usage (a task's encoder):
///   struct grid_encoder {
///     apgen::feature_schema schema() const { return {.feature_vocab_sizes = {9, 9}, .allowed_sets = {{1, 2, 3}}}; }
///     void encode(std::span<const apgen::token_id> row, apgen::row_encoding& out) const { ... }
///   };
///   apgen::generator_options opt{.encoder = apgen::row_encoder(grid_encoder{})};

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace apgen {

/// The shape of a task's encoding: how many features, the ids each takes, and the allowed-token sets.
struct feature_schema {
  std::vector<std::size_t> feature_vocab_sizes{};    ///< feature k takes ids in [0, feature_vocab_sizes[k])
  std::vector<std::vector<token_id>> allowed_sets{}; ///< set s is allowed class s + 1; ids sorted, no repeats

  [[nodiscard]] bool empty() const noexcept { return feature_vocab_sizes.empty() && allowed_sets.empty(); }
  friend bool operator==(const feature_schema&, const feature_schema&) = default;

  /// Throws invalid_argument naming the problem: a feature vocabulary of size 0, an empty allowed set, ids of a set
  /// unsorted, repeated, negative or (vocab_size > 0) outside [0, vocab_size), or MASK (`mask` >= 0) in a set, or
  /// more sets than a class number can name.
  void validate(std::size_t vocab_size = 0, token_id mask = -1) const {
    for (std::size_t k = 0; k < feature_vocab_sizes.size(); ++k)
      if (feature_vocab_sizes[k] == 0) detail::fail<invalid_argument>("feature schema: feature ", k, " has no ids");
    if (allowed_sets.size() >= 0xffff)
      detail::fail<invalid_argument>("feature schema: ", allowed_sets.size(), " allowed sets, at most 65534");
    for (std::size_t s = 0; s < allowed_sets.size(); ++s) {
      const auto& set = allowed_sets[s];
      if (set.empty()) detail::fail<invalid_argument>("feature schema: allowed set ", s, " is empty");
      for (std::size_t j = 0; j < set.size(); ++j) {
        if (set[j] < 0 || (vocab_size != 0 && static_cast<std::size_t>(set[j]) >= vocab_size))
          detail::fail<invalid_argument>("feature schema: allowed set ", s, " holds id ", set[j],
                                         ", outside the vocabulary");
        if (set[j] == mask)
          detail::fail<invalid_argument>("feature schema: allowed set ", s, " holds the MASK id ", mask);
        if (j && set[j] <= set[j - 1])
          detail::fail<invalid_argument>("feature schema: allowed set ", s, " is not sorted without repeats");
      }
    }
  }
  /// Whether class `c` lets token `t` be chosen (class 0 lets every token).
  [[nodiscard]] bool allows(std::uint16_t c, token_id t) const noexcept {
    if (c == 0) return true;
    const auto& set = allowed_sets[c - 1u];
    return std::binary_search(set.begin(), set.end(), t);
  }
};

/// The encoding of one row: features[k][i] is feature k of position i; allowed[i] the allowed class of position i
/// (empty: every position is class 0).
struct row_encoding {
  std::vector<std::vector<token_id>> features{};
  std::vector<std::uint16_t> allowed{};

  friend bool operator==(const row_encoding&, const row_encoding&) = default;
  [[nodiscard]] std::uint16_t allowed_class(std::size_t i) const noexcept { return allowed.empty() ? 0 : allowed[i]; }
};

/// Checks that `e` encodes a row of `length` positions under `schema`: one feature vector per feature, each of
/// `length` ids in range; `allowed` empty or of `length` classes, each naming a set of the schema. Throws
/// shape_mismatch (sizes) or invalid_token (ids, classes) with a message that starts with `where`.
inline void validate_encoding(const row_encoding& e, std::size_t length, const feature_schema& schema,
                              std::string_view where) {
  if (e.features.size() != schema.feature_vocab_sizes.size())
    detail::fail<shape_mismatch>(where, ": ", e.features.size(), " feature rows, the schema has ",
                                 schema.feature_vocab_sizes.size(), " features");
  for (std::size_t k = 0; k < e.features.size(); ++k) {
    if (e.features[k].size() != length)
      detail::fail<shape_mismatch>(where, ": feature ", k, " has ", e.features[k].size(), " positions, the row has ",
                                   length);
    for (std::size_t i = 0; i < length; ++i) {
      const token_id f = e.features[k][i];
      if (f < 0 || static_cast<std::size_t>(f) >= schema.feature_vocab_sizes[k])
        detail::fail<invalid_token>(where, ": feature ", k, " of position ", i, " is ", f, ", outside [0, ",
                                    schema.feature_vocab_sizes[k], ")");
    }
  }
  if (!e.allowed.empty() && e.allowed.size() != length)
    detail::fail<shape_mismatch>(where, ": ", e.allowed.size(), " allowed classes, the row has ", length, " positions");
  for (std::size_t i = 0; i < e.allowed.size(); ++i)
    if (e.allowed[i] > schema.allowed_sets.size())
      detail::fail<invalid_token>(where, ": allowed class ", e.allowed[i], " of position ", i,
                                  " names no set (the schema has ", schema.allowed_sets.size(), ")");
}

// clang-format off
/// A task's encoder: its schema, and the encoding of a row (written into `out`, whose buffers it may reuse).
template <class E>
concept task_encoder = requires(const E& e, std::span<const token_id> row, row_encoding& out) {
  { e.schema() } -> std::convertible_to<feature_schema>;
  e.encode(row, out);
};
// clang-format on

/// Any task_encoder behind one type (the generator's options and the transformer hold one), with the schema taken
/// once at construction. A default-constructed row_encoder has no features and no allowed sets: encoding is off.
class row_encoder {
public:
  row_encoder() = default;
  /// Wraps `e`; validates its schema (see feature_schema::validate).
  template <task_encoder E>
  requires(!std::same_as<std::remove_cvref_t<E>, row_encoder>) explicit row_encoder(E e)
      : m_schema(std::make_shared<const feature_schema>(e.schema())) {
    m_schema->validate();
    m_encode = [enc = std::move(e)](std::span<const token_id> row, row_encoding& out) { enc.encode(row, out); };
  }

  /// True when there is nothing to encode (no encoder given).
  [[nodiscard]] bool empty() const noexcept { return !m_encode; }
  [[nodiscard]] const feature_schema& schema() const noexcept { return m_schema ? *m_schema : empty_schema(); }
  /// Encodes `row` into `out` and validates the result (throws as validate_encoding, naming `where`).
  void encode(std::span<const token_id> row, row_encoding& out, std::string_view where = "row encoder") const {
    if (!m_encode) {
      out.features.clear();
      out.allowed.clear();
      return;
    }
    m_encode(row, out);
    validate_encoding(out, row.size(), *m_schema, where);
  }
  /// The encoding of `row` (validated).
  [[nodiscard]] row_encoding encode(std::span<const token_id> row) const {
    row_encoding e;
    encode(row, e);
    return e;
  }

private:
  static const feature_schema& empty_schema() noexcept {
    static const feature_schema none{};
    return none;
  }
  std::shared_ptr<const feature_schema> m_schema{};
  std::function<void(std::span<const token_id>, row_encoding&)> m_encode{};
};

/// The encodings of every row of `c`, for calling a denoiser outside a generator:
///   const auto enc = apgen::encode_rows(encoder, c);
///   model.predict(c, apgen::step_context{.encodings = enc, .schema = &encoder.schema()}, out);
[[nodiscard]] inline std::vector<row_encoding> encode_rows(const row_encoder& encoder, const canvas& c) {
  std::vector<row_encoding> out(c.rows());
  for (std::size_t r = 0; r < c.rows(); ++r) encoder.encode(c.row(r), out[r]);
  return out;
}

} // namespace apgen
