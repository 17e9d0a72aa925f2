#pragma once
/// \file
/// AdamW with decoupled weight decay, as torch.optim.AdamW computes it (PyTorch 1.13 `_single_tensor_adamw`,
/// amsgrad and maximize off), and its state saved to and restored from safetensors.
///
/// One step, for every parameter p with gradient g, step count t (1 for the first step) and learning rate lr:
///
///   p <- p * (1 - lr * weight_decay)                       only when parameter::decay
///   m <- beta1 * m + (1 - beta1) * g
///   v <- beta2 * v + (1 - beta2) * g * g
///   p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// which is p -= lr * mhat / (sqrt(vhat) + eps) with mhat = m / (1 - beta1^t), vhat = v / (1 - beta2^t), written
/// in PyTorch's order. The per-step scalars (1 - lr*wd, the bias corrections, lr / (1 - beta1^t)) are computed in
/// double and rounded to float once; the per-element arithmetic is float, in the order above, as PyTorch's float32
/// path does it. The update is a plain loop over the parameters in the order given and over their elements, with
/// no reduction, so it is bit-for-bit reproducible: the same parameters, gradients, learning rates and state give
/// the same bits, whatever the thread count of the rest of the program.
///
/// State: m and v (float, one of each per parameter element) and the step count t. They are allocated by the
/// first step (or by init / load_state) and reused: a step in steady state does not allocate. Every later step
/// must pass the same parameters (names and sizes, in the same order); a different set throws shape_mismatch.
///
/// Saved state (save_state / append_state), all F32 so a round trip is exact:
///
///   adam.m.<name>, adam.v.<name>   [numel]   the moments of parameter <name>, flattened row-major
///   __metadata__: adam.step (decimal), adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weight_decay (shortest
///                 round-trip decimal of the double)
///
/// The state tensors can share a file with the model's weights (append_state adds them to a list of tensors);
/// load_state ignores tensors whose names do not start with "adam.". A run that saves after step k and resumes
/// in a fresh optimizer with load_state then makes exactly the updates the uninterrupted run makes.
///
/// Usage:
///   std::vector<apgen::train::parameter> params = ...; // views of the weights and of their gradients
///   apgen::train::adamw opt({.lr = 3e-4, .weight_decay = 0.1});
///   const apgen::train::lr_schedule sched{.base_lr = 3e-4, .warmup_steps = 100, .total_steps = 10000};
///   for (...) { /* fill the gradients */ opt.step(params, sched.at(opt.steps() + 1)); }
///   opt.save_state("opt.safetensors");
///   apgen::train::adamw resumed({.lr = 3e-4, .weight_decay = 0.1});
///   resumed.load_state("opt.safetensors", params);

#include <apgen/core/errors.hpp>
#include <apgen/io/safetensors.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace apgen::train {

/// One trainable tensor as the optimiser and the gradient clipper see it: its values and its gradient, flat and
/// of equal size, under a unique name. `decay` is false for the tensors that take no weight decay (by convention
/// biases and normalisation weights; the caller decides).
struct parameter {
  std::string name;
  std::span<float> value;
  std::span<float> grad;
  bool decay = true;
};

/// AdamW's hyper-parameters (PyTorch's defaults except lr, which is the base rate a schedule scales).
struct adamw_options {
  double lr = 1e-3;           ///< base learning rate; step(params) uses it, step(params, lr) overrides it
  double beta1 = 0.9;         ///< first-moment decay, in [0, 1)
  double beta2 = 0.999;       ///< second-moment decay, in [0, 1)
  double eps = 1e-8;          ///< added to sqrt(vhat), > 0 (and not 0 once rounded to float)
  double weight_decay = 0.01; ///< decoupled decay per unit of lr, >= 0

  /// Throws apgen::invalid_argument naming the first value out of its domain (NaN included).
  void validate() const {
    const auto bad = [](auto... parts) { apgen::detail::fail<invalid_argument>("adamw options: ", parts...); };
    if (!(lr >= 0) || !std::isfinite(lr)) bad("lr must be finite and >= 0, got ", lr);
    if (!(beta1 >= 0 && beta1 < 1)) bad("beta1 must be in [0, 1), got ", beta1);
    if (!(beta2 >= 0 && beta2 < 1)) bad("beta2 must be in [0, 1), got ", beta2);
    if (!(static_cast<float>(eps) > 0) || !std::isfinite(static_cast<float>(eps)))
      bad("eps must be > 0 and finite as a float (the update runs in float), got ", eps);
    if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
      bad("weight_decay must be finite and >= 0, got ", weight_decay);
  }
};

/// What load_state does with the hyper-parameters stored in the file.
enum class stored_hyperparameters {
  must_match, ///< beta1, beta2, eps and weight_decay must equal this optimiser's (lr is not compared: the caller
              ///< passes the learning rate of each step); a difference throws invalid_argument naming the key
  adopt,      ///< replace all five of this optimiser's options by the file's
};

namespace detail {

[[nodiscard]] inline std::string optimizer_number(double x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x); // shortest representation that reads back exactly
  return std::string(buf, r.ptr);
}

[[nodiscard]] inline const std::string& optimizer_metadata(const std::map<std::string, std::string>& meta,
                                                           const std::string& key, std::string_view source) {
  const auto it = meta.find(key);
  if (it == meta.end())
    apgen::detail::fail<parse_error>(source, ": optimizer state metadata has no \"", key,
                                     "\" (not an apgen AdamW state file?)");
  return it->second;
}

[[nodiscard]] inline double optimizer_metadata_double(const std::map<std::string, std::string>& meta,
                                                      const std::string& key, std::string_view source) {
  const std::string& s = optimizer_metadata(meta, key, source);
  double x = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), x);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
    apgen::detail::fail<parse_error>(source, ": metadata \"", key, "\" is \"", s, "\", not a number");
  return x;
}

[[nodiscard]] inline std::uint64_t optimizer_metadata_step(const std::map<std::string, std::string>& meta,
                                                           const std::string& key, std::string_view source) {
  const std::string& s = optimizer_metadata(meta, key, source);
  std::uint64_t x = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size())
    apgen::detail::fail<parse_error>(source, ": metadata \"", key, "\" is \"", s, "\", not a step count");
  return x;
}

} // namespace detail

/// AdamW (decoupled weight decay), deterministic, with its state saved to and restored from safetensors. See
/// \file for the exact update and the file layout.
class adamw {
public:
  /// Prefix of every state tensor's name and metadata key.
  static constexpr std::string_view state_prefix = "adam.";

  /// Throws apgen::invalid_argument when an option is out of its domain (see adamw_options::validate).
  explicit adamw(const adamw_options& options = {}) : m_options(options) { m_options.validate(); }

  [[nodiscard]] const adamw_options& options() const noexcept { return m_options; }
  /// Steps taken so far (t of the last step; 0 before the first).
  [[nodiscard]] std::uint64_t steps() const noexcept { return m_step; }
  /// Whether the state is allocated (by init, step or load_state).
  [[nodiscard]] bool has_state() const noexcept { return m_initialised; }

  /// Allocates zero moments for `params` and sets the step count to 0, replacing any state. Throws
  /// shape_mismatch when a gradient's size differs from its value's, invalid_argument for an empty or repeated
  /// name.
  void init(std::span<const parameter> params) {
    check_parameter_set(params, "adamw::init");
    std::vector<slot> slots;
    slots.reserve(params.size());
    for (const parameter& p : params) slots.push_back(make_slot(p.name, p.value.size()));
    m_slots = std::move(slots);
    m_step = 0;
    m_initialised = true;
  }

  /// One AdamW update of every parameter with learning rate `lr` (a schedule's value; >= 0, finite). Allocates
  /// the state on the first call; later calls must pass the same parameters (names and sizes, in order), or
  /// shape_mismatch is thrown before anything changes.
  void step(std::span<const parameter> params, double lr) {
    if (!(lr >= 0) || !std::isfinite(lr))
      apgen::detail::fail<invalid_argument>("adamw::step: lr must be finite and >= 0, got ", lr);
    if (!m_initialised) init(params);
    check_same_parameters(params);

    const std::uint64_t t = m_step + 1;
    const double bias1 = 1.0 - std::pow(m_options.beta1, static_cast<double>(t));
    const double bias2 = 1.0 - std::pow(m_options.beta2, static_cast<double>(t));
    const auto decay_factor = static_cast<float>(1.0 - lr * m_options.weight_decay);
    const bool decay_on = m_options.weight_decay != 0.0;
    const auto b1 = static_cast<float>(m_options.beta1);
    const auto one_minus_b1 = static_cast<float>(1.0 - m_options.beta1);
    const auto b2 = static_cast<float>(m_options.beta2);
    const auto one_minus_b2 = static_cast<float>(1.0 - m_options.beta2);
    const auto neg_step_size = static_cast<float>(-(lr / bias1));
    const auto bias2_sqrt = static_cast<float>(std::sqrt(bias2));
    const auto eps = static_cast<float>(m_options.eps);

    for (std::size_t i = 0; i < params.size(); ++i) {
      float* const value = params[i].value.data();
      const float* const grad = params[i].grad.data();
      float* const m = m_slots[i].m.data();
      float* const v = m_slots[i].v.data();
      const std::size_t n = params[i].value.size();
      const bool decay = decay_on && params[i].decay;
      for (std::size_t j = 0; j < n; ++j) {
        const float g = grad[j];
        float p = value[j];
        if (decay) p *= decay_factor;
        m[j] = m[j] * b1 + one_minus_b1 * g;
        v[j] = v[j] * b2 + one_minus_b2 * (g * g);
        const float denom = std::sqrt(v[j]) / bias2_sqrt + eps;
        value[j] = p + neg_step_size * m[j] / denom;
      }
    }
    m_step = t;
  }

  /// step with the base learning rate options().lr.
  void step(std::span<const parameter> params) { step(params, m_options.lr); }

  /// The first moment m of the i-th parameter (in the order of the steps); empty before the state exists.
  [[nodiscard]] std::span<const float> first_moment(std::size_t i) const {
    return i < m_slots.size() ? std::span<const float>(m_slots[i].m) : std::span<const float>{};
  }
  /// The second moment v of the i-th parameter; empty before the state exists.
  [[nodiscard]] std::span<const float> second_moment(std::size_t i) const {
    return i < m_slots.size() ? std::span<const float>(m_slots[i].v) : std::span<const float>{};
  }

  /// Appends the state tensors (views of this optimiser's storage: valid until it is destroyed, re-initialised
  /// or loaded) and the state metadata, so that one safetensors file can hold the weights and the state. Throws
  /// invalid_argument before the state exists (call init, step or load_state first).
  void append_state(std::vector<io::tensor_view>& tensors, std::map<std::string, std::string>& metadata) const {
    if (!m_initialised)
      apgen::detail::fail<invalid_argument>("adamw::append_state: no state yet (call init, step or load_state)");
    tensors.reserve(tensors.size() + 2 * m_slots.size());
    for (const slot& s : m_slots) {
      tensors.emplace_back(s.m_key, std::vector<std::size_t>{s.m.size()}, std::span<const float>(s.m));
      tensors.emplace_back(s.v_key, std::vector<std::size_t>{s.v.size()}, std::span<const float>(s.v));
    }
    metadata["adam.step"] = std::to_string(m_step);
    metadata["adam.lr"] = detail::optimizer_number(m_options.lr);
    metadata["adam.beta1"] = detail::optimizer_number(m_options.beta1);
    metadata["adam.beta2"] = detail::optimizer_number(m_options.beta2);
    metadata["adam.eps"] = detail::optimizer_number(m_options.eps);
    metadata["adam.weight_decay"] = detail::optimizer_number(m_options.weight_decay);
  }

  /// Writes the state alone to `path` (F32). Throws what append_state and io::write_safetensors throw.
  void save_state(const std::string& path) const {
    std::vector<io::tensor_view> tensors;
    std::map<std::string, std::string> metadata;
    append_state(tensors, metadata);
    io::write_safetensors(path, std::span<const io::tensor_view>(tensors), metadata, io::dtype::f32);
  }

  /// Restores the state saved for `params` (same names and sizes; the order may differ from the saved one but
  /// later steps must use this order). Checks everything before changing anything: each parameter's
  /// "adam.m.<name>" and "adam.v.<name>" present with shape [numel] (else shape_mismatch naming the tensor), no
  /// other "adam.m." / "adam.v." tensor in the file (shape_mismatch naming it), v non-negative (parse_error), the
  /// metadata present and numeric (parse_error naming the key) and, with `stored_hyperparameters::must_match`,
  /// the file's beta1, beta2, eps and weight_decay equal to this optimiser's (invalid_argument naming the key).
  void load_state(const io::safetensors_file& file, std::span<const parameter> params,
                  stored_hyperparameters hyper = stored_hyperparameters::must_match) {
    using apgen::detail::fail;
    const std::string& src = file.source();
    check_parameter_set(params, "adamw::load_state");
    const auto& meta = file.metadata();
    adamw_options stored;
    stored.lr = detail::optimizer_metadata_double(meta, "adam.lr", src);
    stored.beta1 = detail::optimizer_metadata_double(meta, "adam.beta1", src);
    stored.beta2 = detail::optimizer_metadata_double(meta, "adam.beta2", src);
    stored.eps = detail::optimizer_metadata_double(meta, "adam.eps", src);
    stored.weight_decay = detail::optimizer_metadata_double(meta, "adam.weight_decay", src);
    const std::uint64_t stored_step = detail::optimizer_metadata_step(meta, "adam.step", src);
    try {
      stored.validate();
    } catch (const invalid_argument& e) {
      fail<parse_error>(src, ": stored ", e.what());
    }
    if (hyper == stored_hyperparameters::must_match) {
      const auto same = [&](const char* key, double file_value, double ours) {
        if (file_value != ours)
          fail<invalid_argument>(src, ": metadata \"", key, "\" is ", detail::optimizer_number(file_value),
                                 " but this optimizer has ", detail::optimizer_number(ours),
                                 " (pass stored_hyperparameters::adopt to take the file's)");
      };
      same("adam.beta1", stored.beta1, m_options.beta1);
      same("adam.beta2", stored.beta2, m_options.beta2);
      same("adam.eps", stored.eps, m_options.eps);
      same("adam.weight_decay", stored.weight_decay, m_options.weight_decay);
    }

    std::set<std::string, std::less<>> expected;
    std::vector<slot> slots;
    slots.reserve(params.size());
    for (const parameter& p : params) {
      slot s = make_slot(p.name, 0);
      const std::vector<std::size_t> shape{p.value.size()};
      for (const std::string* key : {&s.m_key, &s.v_key}) {
        if (!file.contains(*key))
          fail<shape_mismatch>(src, ": no optimizer state tensor \"", *key, "\" for parameter \"", p.name, "\"");
        (void)file.get(*key, shape); // throws shape_mismatch naming the tensor
        expected.insert(*key);
      }
      s.m = file.get(s.m_key).data;
      s.v = file.get(s.v_key).data;
      for (std::size_t j = 0; j < s.v.size(); ++j)
        if (!(s.v[j] >= 0))
          fail<parse_error>(src, ": tensor \"", s.v_key, "\" element ", j, " is ", s.v[j],
                            "; a second moment is never negative or NaN");
      slots.push_back(std::move(s));
    }
    for (const std::string& name : file.names()) {
      const bool state = name.starts_with("adam.m.") || name.starts_with("adam.v.");
      if (state && !expected.count(name))
        fail<shape_mismatch>(src, ": optimizer state tensor \"", name,
                             "\" belongs to no parameter given to load_state");
    }

    if (hyper == stored_hyperparameters::adopt) m_options = stored;
    m_slots = std::move(slots);
    m_step = stored_step;
    m_initialised = true;
  }

  /// load_state from the file at `path` (which may also hold other tensors, such as the weights).
  void load_state(const std::string& path, std::span<const parameter> params,
                  stored_hyperparameters hyper = stored_hyperparameters::must_match) {
    load_state(io::safetensors_file::read(path), params, hyper);
  }

  /// Drops the state: the next step starts again from t = 1 with zero moments.
  void reset() noexcept {
    m_slots.clear();
    m_step = 0;
    m_initialised = false;
  }

private:
  struct slot {
    std::string name, m_key, v_key;
    std::vector<float> m, v;
  };

  static slot make_slot(const std::string& name, std::size_t n) {
    return slot{name, "adam.m." + name, "adam.v." + name, std::vector<float>(n, 0.0f), std::vector<float>(n, 0.0f)};
  }

  static void check_parameter_set(std::span<const parameter> params, std::string_view who) {
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const parameter& p = params[i];
      if (p.name.empty()) apgen::detail::fail<invalid_argument>(who, ": parameter ", i, " has an empty name");
      if (!names.insert(p.name).second)
        apgen::detail::fail<invalid_argument>(who, ": parameter name \"", p.name, "\" given twice");
      if (p.grad.size() != p.value.size())
        apgen::detail::fail<shape_mismatch>(who, ": parameter \"", p.name, "\" has ", p.value.size(), " values but ",
                                            p.grad.size(), " gradients");
    }
  }

  // Runs every step: no allocation, only comparisons.
  void check_same_parameters(std::span<const parameter> params) const {
    if (params.size() != m_slots.size())
      apgen::detail::fail<shape_mismatch>("adamw::step: ", params.size(), " parameters, but the state holds ",
                                          m_slots.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const parameter& p = params[i];
      const slot& s = m_slots[i];
      if (p.name != s.name)
        apgen::detail::fail<shape_mismatch>("adamw::step: parameter ", i, " is \"", p.name,
                                            "\", but the state's parameter ", i, " is \"", s.name, "\"");
      if (p.value.size() != s.m.size() || p.grad.size() != s.m.size())
        apgen::detail::fail<shape_mismatch>("adamw::step: parameter \"", p.name, "\" has ", p.value.size(),
                                            " values and ", p.grad.size(), " gradients, but its state has ",
                                            s.m.size());
    }
  }

  adamw_options m_options;
  std::vector<slot> m_slots;
  std::uint64_t m_step = 0;
  bool m_initialised = false;
};

} // namespace apgen::train
