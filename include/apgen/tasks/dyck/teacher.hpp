#pragma once
/// \file
/// The Dyck-k teachers: runs of the insertion oracle (tasks/dyck/oracle.hpp) and of the learnable process
/// (tasks/dyck/process.hpp) as training records.

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/dyck/oracle.hpp>
#include <apgen/tasks/dyck/process.hpp>
#include <apgen/tasks/dyck/task.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace apgen::tasks::dyck {

namespace detail {
/// `trajectories` runs of `model` from [BOS], BOS locked, `batch` rows at a time on rows of `capacity` tokens.
/// Trajectory k (id opt.first_trajectory + k) uses row key opt.first_trajectory + k and `seed`, so its records do
/// not depend on `batch`.
template <class Denoiser, train::record_sink Sink>
void record_runs(const vocabulary& v, const Denoiser& model, std::size_t capacity, std::size_t trajectories,
                 std::uint64_t seed, Sink&& sink, const train::record_options& opt, std::size_t batch,
                 const row_encoder& encoder = {}) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("dyck teacher: batch must be positive");
  const token_id bos = v.require_bos("dyck teacher");
  for (std::size_t at = 0; at < trajectories; at += batch) {
    const std::size_t n = std::min(batch, trajectories - at);
    canvas c(v, n, capacity);
    const std::int64_t first = opt.first_trajectory + static_cast<std::int64_t>(at);
    for (std::size_t r = 0; r < n; ++r) {
      c.assign(r, {bos}, 1);
      c.set_row_key(r, static_cast<std::uint64_t>(first + static_cast<std::int64_t>(r)));
    }
    generator_options go{.seed = seed};
    go.encoder = encoder;
    auto gen = make_generator(model, schedules::any_process<>(), go);
    train::record_options ro = opt;
    ro.first_trajectory = first;
    train::record_trajectories(gen, c, sink, ro);
  }
}
} // namespace detail

/// `trajectories` runs of the Dyck-k oracle (insertion of cancelling pairs: grow / open / close rounds) from
/// [BOS], BOS locked. Trajectory k (id opt.first_trajectory + k) uses row key opt.first_trajectory + k and `seed`,
/// so its records do not depend on `batch`. `v` must be make_vocabulary(o.pairs).
template <train::record_sink Sink>
void teacher(const vocabulary& v, const oracle_options& o, std::size_t trajectories, std::uint64_t seed, Sink&& sink,
             const train::record_options& opt = {}, std::size_t batch = 256) {
  // A round inserts at most (max_length - letters) / 2 MASKs and the open step doubles them: max_length + 1.
  detail::record_runs(v, oracle(v, o), o.max_length + 2, trajectories, seed, sink, opt, batch);
}

/// `trajectories` runs of the learnable Dyck-k process (tasks/dyck/process.hpp) from [BOS], keyed as `teacher`'s,
/// each record carrying the process_encoder's token sets (so training restricts the softmax as sampling does;
/// train::process_example then wants process_encoder{o.pairs}.schema()). `v` must be make_process_vocabulary(o.pairs).
/// Keep record_options::skip_unchanged false to teach the fixed point [BOS] $ w too (a learned generator stops
/// there only if it learned to leave it alone).
template <train::record_sink Sink>
void process_teacher(const vocabulary& v, const process_options& o, std::size_t trajectories, std::uint64_t seed,
                     Sink&& sink, const train::record_options& opt = {}, std::size_t batch = 256) {
  detail::record_runs(v, process_oracle(v, o), process_capacity(o.max_length), trajectories, seed, sink, opt, batch,
                      row_encoder(process_encoder{o.pairs}));
}

/// teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<train::transition_record> teacher(const vocabulary& v, const oracle_options& o,
                                                                   std::size_t trajectories, std::uint64_t seed = 0,
                                                                   const train::record_options& opt = {}) {
  std::vector<train::transition_record> out;
  teacher(
      v, o, trajectories, seed, [&](train::transition_record&& r) { out.push_back(std::move(r)); }, opt);
  return out;
}

} // namespace apgen::tasks::dyck
