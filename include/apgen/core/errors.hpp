#pragma once
/// \file
/// The exceptions apgen throws. Each names the problem (which row, which position, which value) so that a user can
/// find the bad input without a debugger; all derive from apgen::error so one catch handles every library failure.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace apgen {

/// Base of every exception thrown by apgen.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A token id outside [0, vocabulary size), or a special id that the operation needs but the vocabulary lacks.
class invalid_token : public error {
public:
  using error::error;
};

/// Two things whose sizes must agree do not (scores vs. canvas, vocabulary vs. denoiser, batch sizes).
class shape_mismatch : public error {
public:
  using error::error;
};

/// A NaN or infinite score from a denoiser.
class invalid_score : public error {
public:
  using error::error;
};

/// A row would grow past its capacity under the overflow policy `throw_error`.
class capacity_exceeded : public error {
public:
  using error::error;
};

/// A configuration value out of its domain (empty vocabulary, zero capacity, k = 0, threshold outside (0, 1), ...).
class invalid_argument : public error {
public:
  using error::error;
};

/// A file or text that does not parse (vocabulary text, trace lines, test vectors).
class parse_error : public error {
public:
  using error::error;
};

namespace detail {
/// Builds a message from streamable parts: `message("row ", r, " has length ", n)`.
template <class... Parts>
[[nodiscard]] std::string message(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

/// Throws Error with the concatenated message; kept out of line of the hot path by [[noreturn]].
template <class Error, class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(message(std::forward<Parts>(parts)...));
}
} // namespace detail

} // namespace apgen
