#pragma once
/// \file
/// A progress bar for long training and evaluation runs: one line, redrawn in place, with the count done, a bar,
/// the rate, the time left and a caller's note (the loss, say):
///   train [##########..........]  12000/60000  3.1 it/s  eta 4h18m  loss 1.372
/// It draws only on a terminal: built with `for_stderr`, it writes nothing when standard error is a file or a pipe
/// (logs stay clean; the run's own lines go there as before). Redraws are at most ten a second. It depends on
/// nothing else in apgen (the trainer draws its progress through it).
///
/// Usage:
///   auto bar = apgen::draw::progress_bar::for_stderr(steps, "train");
///   for (...) bar.update(step + 1, "loss 1.37");
///   bar.finish();

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>

#if defined(_WIN32)
#include <io.h>
#define APGEN_ISATTY _isatty
#define APGEN_FILENO _fileno
#else
#include <unistd.h>
#define APGEN_ISATTY isatty
#define APGEN_FILENO fileno
#endif

namespace apgen::draw {

/// True when `f` is a terminal.
[[nodiscard]] inline bool is_terminal(std::FILE* f) noexcept {
  return APGEN_ISATTY(APGEN_FILENO(f)) != 0;
}

class progress_bar {
public:
  using clock = std::chrono::steady_clock;

  /// A bar on `out` for `total` items; it draws only when `interactive`.
  progress_bar(std::ostream& out, std::uint64_t total, std::string label, bool interactive)
      : m_out(out), m_total(total), m_label(std::move(label)), m_interactive(interactive) {}

  /// A bar on standard error, drawn only when standard error is a terminal.
  [[nodiscard]] static progress_bar for_stderr(std::uint64_t total, std::string label) {
    return progress_bar(std::cerr, total, std::move(label), is_terminal(stderr));
  }

  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  progress_bar(progress_bar&& o) noexcept
      : m_out(o.m_out), m_total(o.m_total), m_label(std::move(o.m_label)), m_interactive(o.m_interactive),
        m_first(o.m_first), m_has_first(o.m_has_first), m_first_at(o.m_first_at), m_last_draw(o.m_last_draw),
        m_drawn(o.m_drawn) {
    o.m_interactive = false; // the moved-from bar must not draw or clear the line
  }
  progress_bar& operator=(progress_bar&&) = delete;
  ~progress_bar() { finish(); }

  [[nodiscard]] bool interactive() const noexcept { return m_interactive; }

  /// `done` items of the total are done; redraws when a tenth of a second has passed since the last draw (or when
  /// done reaches the total). The rate counts from the first update, so a resumed run's rate is its own.
  void update(std::uint64_t done, std::string_view note = {}) {
    if (!m_interactive) return;
    const auto now = clock::now();
    if (!m_has_first) {
      m_first = done;
      m_first_at = now;
      m_has_first = true;
    }
    if (m_drawn && done < m_total && now - m_last_draw < std::chrono::milliseconds(100)) return;
    m_last_draw = now;
    m_out << '\r' << line(done, std::chrono::duration<double>(now - m_first_at).count(), note) << "\x1b[K"
          << std::flush;
    m_drawn = true;
  }

  /// Ends the bar's line (once); nothing when nothing was drawn.
  void finish() {
    if (m_interactive && m_drawn) m_out << '\n' << std::flush;
    m_drawn = false;
    m_interactive = false;
  }

  /// The text of the bar for `done` items after `seconds` since the first update (exposed for tests).
  [[nodiscard]] std::string line(std::uint64_t done, double seconds, std::string_view note = {}) const {
    constexpr int width = 20;
    const double frac = m_total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(m_total)) : 1.0;
    const int filled = static_cast<int>(frac * width);
    std::string s = m_label;
    s += " [";
    s.append(static_cast<std::size_t>(filled), '#');
    s.append(static_cast<std::size_t>(width - filled), '.');
    s += "] ";
    s += std::to_string(done);
    s += '/';
    s += std::to_string(m_total);
    const std::uint64_t since = m_has_first && done > m_first ? done - m_first : 0;
    if (seconds > 0 && since > 0) {
      const double rate = static_cast<double>(since) / seconds;
      char buf[64];
      std::snprintf(buf, sizeof buf, rate >= 10 ? "  %.0f it/s" : "  %.2f it/s", rate);
      s += buf;
      if (done < m_total) {
        s += "  eta ";
        s += duration(static_cast<double>(m_total - done) / rate);
      }
    }
    if (!note.empty()) {
      s += "  ";
      s += note;
    }
    return s;
  }

  /// `seconds` as 42s, 3m07s or 4h18m.
  [[nodiscard]] static std::string duration(double seconds) {
    const auto t = static_cast<std::uint64_t>(std::max(0.0, seconds) + 0.5);
    char buf[48];
    if (t < 60)
      std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(t));
    else if (t < 3600)
      std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(t / 60),
                    static_cast<unsigned long long>(t % 60));
    else
      std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(t / 3600),
                    static_cast<unsigned long long>(t / 60 % 60));
    return buf;
  }

private:
  std::ostream& m_out;
  std::uint64_t m_total;
  std::string m_label;
  bool m_interactive;
  std::uint64_t m_first = 0;
  bool m_has_first = false;
  clock::time_point m_first_at{};
  clock::time_point m_last_draw{};
  bool m_drawn = false;
};

} // namespace apgen::draw

#undef APGEN_ISATTY
#undef APGEN_FILENO
