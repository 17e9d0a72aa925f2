#pragma once
/// \file
/// The umbrella header: everything apgen offers on the host. Interop headers (Eigen, xtensor) are included
/// separately, so that using apgen does not pull those libraries into every translation unit.

#include <apgen/config.hpp>
#include <apgen/version.hpp>

#include <apgen/backends/loops.hpp>
#include <apgen/backends/summarize.hpp>
#include <apgen/backends/tags.hpp>

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/matrix_view.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/core/vocabulary.hpp>

#include <apgen/edits/edit_set.hpp>

#include <apgen/sampling/choose_tokens.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/distribution.hpp>
#include <apgen/sampling/samplers.hpp>

#include <apgen/schedules/any_process.hpp>
#include <apgen/schedules/autoregressive.hpp>
#include <apgen/schedules/blockwise.hpp>
#include <apgen/schedules/masked_diffusion.hpp>
#include <apgen/schedules/polish.hpp>
#include <apgen/schedules/threshold.hpp>
#include <apgen/schedules/unmask_count.hpp>

#include <apgen/stopping/stop_rules.hpp>

#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/engine/process_trace.hpp>

#include <apgen/denoisers/callable.hpp>
#include <apgen/denoisers/oracle_scores.hpp>

#include <apgen/tasks/dyck/oracle.hpp>
#include <apgen/tasks/dyck/task.hpp>
#include <apgen/tasks/parity/oracle.hpp>
#include <apgen/tasks/parity/task.hpp>

#include <apgen/io/trace_jsonl.hpp>
