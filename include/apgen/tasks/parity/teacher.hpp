#pragma once
/// \file
/// The parity teacher: the oracle's AP-MDM trajectories as training records.

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/parity/oracle.hpp>
#include <apgen/tasks/parity/task.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace apgen::tasks::parity {

/// The parity oracle's trajectories (AP-MDM: remask zeros and pairs of ones, delete MASKs) from [BOS] b1 .. bn
/// for every input of `inputs`, BOS locked; input k is trajectory opt.first_trajectory + k. Runs `batch` inputs at
/// a time. `v` must be make_vocabulary(). Throws invalid_argument for a batch of 0.
template <train::record_sink Sink>
void teacher(const vocabulary& v, const std::vector<std::vector<int>>& inputs, Sink&& sink,
             const train::record_options& opt = {}, std::size_t batch = 256) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("parity teacher: batch must be positive");
  for (std::size_t at = 0; at < inputs.size(); at += batch) {
    const std::size_t n = std::min(batch, inputs.size() - at);
    std::vector<std::size_t> caps(n);
    for (std::size_t r = 0; r < n; ++r) caps[r] = inputs[at + r].size() + 1; // parity only shrinks a row
    canvas c(v, caps);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, encode(v, inputs[at + r]), 1);
    auto gen = make_generator(oracle(v), schedules::any_process<>());
    train::record_options o = opt;
    o.first_trajectory = opt.first_trajectory + static_cast<std::int64_t>(at);
    train::record_trajectories(gen, c, sink, o);
  }
}

/// teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<train::transition_record>
teacher(const vocabulary& v, const std::vector<std::vector<int>>& inputs, const train::record_options& opt = {}) {
  std::vector<train::transition_record> out;
  teacher(
      v, inputs, [&](train::transition_record&& r) { out.push_back(std::move(r)); }, opt);
  return out;
}

} // namespace apgen::tasks::parity
