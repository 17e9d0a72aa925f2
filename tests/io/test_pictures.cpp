// Pictures of a generation (io/trace_svg.hpp, draw/svg.hpp, draw/chart.hpp) and the progress bar (draw/progress.hpp):
// every picture parses back as well-formed XML, whatever the trace holds (inserts, deletes, empty rows, one step, many
// steps, token texts that need escaping); each drawn cell says what its step did; the bar writes nothing off a
// terminal.
#include <apgen/apgen.hpp>
#include <apgen/draw/chart.hpp>
#include <apgen/draw/progress.hpp>
#include <apgen/draw/svg.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/io/trace_svg.hpp>

#include "support/models.hpp"
#include "support/xml_check.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using apgen::token_id;
using change = apgen::io::cell_change;

apgen::vocabulary letters() {
  return apgen::vocabulary({"a", "b", "c", "d"});
} // MASK 0, a..d = 1..4

// A trace assembled from its parts: row 0 = [a M M b] goes through
//   step 0: position 1 unmasked to c, position 2 deleted, an insert after position 3 -> [a c b M]
//   step 1: position 0 remasked, position 3 unmasked to d                           -> [M c b d]
// and row 1 is empty and never steps.
apgen::traced_row_step row_step(std::uint32_t step, std::size_t row, std::vector<token_id> tokens,
                                std::vector<std::uint8_t> applied, std::vector<token_id> after) {
  apgen::traced_row_step s;
  s.step = step;
  s.row = row;
  s.tokens = std::move(tokens);
  s.requested = s.applied = std::move(applied);
  s.after = std::move(after);
  return s;
}

apgen::process_trace hand_trace() {
  apgen::process_trace t;
  t.start({{1, 0, 0, 2}, {}}, {8, 4}, {0, 9}, 0, 5);
  t.append(row_step(0, 0, {0, 3, 0, 0}, {apgen::op_none, apgen::op_unmask, apgen::op_erase, apgen::op_insert},
                    {1, 3, 2, 0}));
  t.append(
      row_step(1, 0, {0, 0, 0, 4}, {apgen::op_remask, apgen::op_none, apgen::op_none, apgen::op_unmask}, {0, 3, 2, 4}));
  return t;
}

std::string svg_of(const apgen::process_trace& t, const apgen::vocabulary& v,
                   const apgen::io::trace_picture_options& o = {}) {
  std::ostringstream out;
  apgen::io::write_trace_svg(out, t, v, o);
  return out.str();
}

std::vector<change> changes(const apgen::io::drawn_state& s) {
  std::vector<change> out;
  for (const auto& c : s.cells) out.push_back(c.change);
  return out;
}

} // namespace

TEST_SUITE("io") {

  TEST_CASE("trace picture: each drawn cell says what its step did, deleted cells where they stood") {
    const auto t = hand_trace();
    const auto states = apgen::io::drawn_states(t, 0);
    REQUIRE(states.size() == 3);
    CHECK(states[0].step == -1);
    CHECK(changes(states[0]) ==
          std::vector<change>{change::kept_token, change::kept_mask, change::kept_mask, change::kept_token});
    // Step 0: the deleted MASK keeps its place (between c and b), the inserted MASK appears after b.
    CHECK(changes(states[1]) == std::vector<change>{change::kept_token, change::unmasked, change::deleted,
                                                    change::kept_token, change::inserted});
    CHECK(states[1].cells[1].token == 3);
    CHECK(states[1].cells[1].before == 0);
    CHECK(changes(states[2]) ==
          std::vector<change>{change::remasked, change::kept_token, change::kept_token, change::unmasked});
    CHECK(states[2].cells[0].before == 1);
    // The empty row has its starting line only.
    const auto empty = apgen::io::drawn_states(t, 1);
    REQUIRE(empty.size() == 1);
    CHECK(empty[0].cells.empty());
    CHECK_THROWS_AS((void)apgen::io::drawn_states(t, 2), apgen::invalid_argument);
  }

  TEST_CASE("trace picture: well-formed SVG for inserts, deletes and an empty row, with every step labelled") {
    const auto rep = apgen::testing::check_xml(svg_of(hand_trace(), letters()));
    INFO(rep.error);
    REQUIRE(rep.well_formed);
    CHECK(rep.root == "svg");
    CHECK(rep.has_text("start"));
    CHECK(rep.has_text("t=0"));
    CHECK(rep.has_text("t=1"));
    CHECK(rep.has_text("(empty)"));
    CHECK(rep.has_text("row 1 (key 9)"));
    CHECK(rep.count("line") == 1); // the one deleted cell is struck through
    // 4 + 5 + 4 cells of row 0, each a titled rect, plus the background and six legend swatches.
    CHECK(rep.count("title") == 13);
    CHECK(rep.count("rect") == 13 + 1 + 6);
  }

  TEST_CASE("trace picture: a one-step generation of a real generator, and a batch as small multiples") {
    const apgen::vocabulary v = letters();
    apgen::canvas c(v, std::vector<std::size_t>{10, 10, 10});
    c.assign(0, {0, 0, 0});
    c.assign(1, {1, 0});
    c.assign(2, {0});
    apgen::testing::hashed_model model{.vocab = v.size(), .controls = true, .control_bias = -0.5f};
    auto gen = apgen::make_generator(model, apgen::schedules::any_process<>(), {.seed = 5, .max_steps = 1});
    apgen::process_trace trace(c);
    gen.generate(c, trace);
    REQUIRE(trace.steps().size() == 3);
    const auto rep = apgen::testing::check_xml(svg_of(trace, v));
    INFO(rep.error);
    REQUIRE(rep.well_formed);
    CHECK(rep.has_text("row 2 (key 2)"));
    CHECK(rep.has_text("t=0"));
    CHECK_FALSE(rep.has_text("t=1"));
    // The drawn states end on the rows the generator left.
    for (std::size_t r = 0; r < 3; ++r) {
      const auto states = apgen::io::drawn_states(trace, r);
      std::vector<token_id> shown;
      for (const auto& cell : states.back().cells)
        if (cell.change != change::deleted) shown.push_back(cell.token);
      CHECK(shown == std::vector<token_id>(c.row(r).begin(), c.row(r).end()));
    }
  }

  TEST_CASE("trace picture: long rows wrap, steps past the limit are counted, token texts are escaped") {
    const apgen::vocabulary v({"<", "&", "\"q\"", "x\x01y"});
    apgen::process_trace t;
    std::vector<token_id> start(30, 0);
    t.start({start}, {30}, {0}, 0, 5);
    std::vector<token_id> row = start;
    for (std::uint32_t s = 0; s < 30; ++s) { // one MASK unmasked per step, cycling through the texts
      std::vector<token_id> tokens(30, 0);
      std::vector<std::uint8_t> applied(30, apgen::op_none);
      tokens[s] = static_cast<token_id>(1 + s % 4);
      applied[s] = apgen::op_unmask;
      row[s] = tokens[s];
      t.append(row_step(s, 0, tokens, applied, row));
    }
    const auto rep = apgen::testing::check_xml(svg_of(t, v, {.wrap = 8, .max_steps = 10}));
    INFO(rep.error);
    REQUIRE(rep.well_formed);
    CHECK(rep.has_text("t=9"));
    CHECK_FALSE(rep.has_text("t=10"));
    CHECK(rep.has_text("20 more steps not drawn"));
    CHECK(rep.has_text("<"));
    CHECK(rep.has_text("&"));
    CHECK(rep.has_text("x?y")); // a control byte cannot appear in XML at all
    CHECK_THROWS_AS((void)svg_of(t, v, {.wrap = 0}), apgen::invalid_argument);
  }

  TEST_CASE("trace picture: a long token text is cut to its cell, whole in its tooltip") {
    using apgen::io::detail::fitted;
    CHECK(fitted("[BOS]", 3) == "[B~");
    CHECK(fitted("abc", 3) == "abc");
    CHECK(fitted("abcd", 1) == "~");
    CHECK(fitted("\xc3\xa9\xc3\xa9\xc3\xa9x", 3) == "\xc3\xa9\xc3\xa9~"); // characters, not bytes
    CHECK(fitted("abc", 0).empty());
  }

  TEST_CASE("trace picture: applied bits that do not give the recorded row are named") {
    auto t = hand_trace();
    apgen::process_trace bad;
    bad.start({{1, 0, 0, 2}}, {8}, {0}, 0, 5);
    apgen::traced_row_step s = t.steps()[0];
    s.after = {1, 3, 2}; // the insert's MASK is missing
    bad.append(s);
    CHECK_THROWS_WITH_AS((void)apgen::io::drawn_states(bad, 0),
                         doctest::Contains("step 0, row 0: the applied bits do not give the recorded row"),
                         apgen::error);
  }

  TEST_CASE("svg writer: escaping keeps any text well formed") {
    CHECK(apgen::draw::xml_escaped("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&apos;");
    CHECK(apgen::draw::xml_escaped("\x7f\x02ok") == "??ok");
    CHECK(apgen::draw::xml_escaped("caf\xc3\xa9") == "caf\xc3\xa9");      // valid UTF-8 passes
    CHECK(apgen::draw::xml_escaped("\xc3(\xed\xa0\x80\xff") == "?(????"); // broken, surrogate, bad lead
    CHECK(apgen::draw::xml_escaped("\xe2\x82") == "??");                  // truncated sequence
    std::ostringstream out;
    {
      apgen::draw::svg_document svg(out, 10, 10);
      svg.text(1, 1, "\xff<&>", 5);
      svg.rect(0, 0, 1, 1, "#fff\"", "#000", 1, true);
    } // the destructor closes the document
    const auto rep = apgen::testing::check_xml(out.str());
    INFO(rep.error);
    CHECK(rep.well_formed);
    CHECK(rep.has_text("?<&>"));
    // The checker itself refuses what is not well formed.
    CHECK_FALSE(apgen::testing::check_xml("<svg><text>a<b</text></svg>").well_formed);
    CHECK_FALSE(apgen::testing::check_xml("<svg><g></svg>").well_formed);
    CHECK_FALSE(apgen::testing::check_xml("<svg a=\"1\" a=\"2\"/>").well_formed);
    CHECK_FALSE(apgen::testing::check_xml("<svg>&nbsp;</svg>").well_formed);
    CHECK(apgen::testing::check_xml("<svg a='&lt;'><text>x</text></svg>").well_formed);
  }

  TEST_CASE("line chart: well formed with gaps, a log axis and a right axis; bad series are refused") {
    const double gap = std::numeric_limits<double>::quiet_NaN();
    const std::vector<apgen::draw::series> all = {
        {"loss", {0, 1000, 2000, 3000, 4000}, {2.2, 1.9, gap, 1.4, 1.3}, false},
        {"dev <solved> & more", {0, 1000, 2000, 3000, 4000}, {0, 0, 0.01, 0.05, 0.2}, true},
        {"one point", {2500}, {1.6}, false}};
    std::ostringstream out;
    apgen::draw::write_line_chart(
        out, all, {.title = "curve", .x_label = "step", .y_label = "loss", .y2_label = "dev", .log_y = true});
    const auto rep = apgen::testing::check_xml(out.str());
    INFO(rep.error);
    REQUIRE(rep.well_formed);
    CHECK(rep.count("polyline") == 3); // the gap splits the loss in two; the right series is one line
    CHECK(rep.count("circle") == 1);   // a lone point is a dot
    CHECK(rep.has_text("dev <solved> & more (right)"));
    CHECK(rep.has_text("4000"));
    CHECK(rep.has_text("loss (log)"));
    const std::vector<apgen::draw::series> ragged = {{"r", {0, 1}, {1}, false}};
    std::ostringstream sink;
    CHECK_THROWS_AS(apgen::draw::write_line_chart(sink, ragged), std::invalid_argument);
    const std::vector<apgen::draw::series> blank = {{"b", {0, 1}, {gap, gap}, false}};
    CHECK_THROWS_AS(apgen::draw::write_line_chart(sink, blank), std::invalid_argument);
    CHECK(apgen::draw::detail::nice_ticks(0, 10) == std::vector<double>{0, 2, 4, 6, 8, 10});
  }

  TEST_CASE("progress bar: nothing off a terminal; on one, count, rate, time left and the note") {
    std::ostringstream quiet;
    {
      apgen::draw::progress_bar bar(quiet, 100, "train", false);
      for (std::uint64_t k = 1; k <= 100; ++k) bar.update(k, "loss 1.0");
      bar.finish();
    }
    CHECK(quiet.str().empty());
    // Drawn (as for_stderr does when standard error is a terminal): the line, redrawn in place, ended at the end.
    std::ostringstream shown;
    {
      apgen::draw::progress_bar bar(shown, 200, "train", true);
      bar.update(10, "loss 2.5");
      CHECK(bar.line(50, 10.0, "loss 1.5") == "train [#####...............] 50/200  4.00 it/s  eta 38s  loss 1.5");
      CHECK(bar.line(200, 10.0).find("eta") == std::string::npos);
    }
    CHECK(shown.str().find("10/200") != std::string::npos);
    CHECK(shown.str().find("loss 2.5") != std::string::npos);
    CHECK(shown.str().back() == '\n'); // the line is ended when the bar goes
    CHECK(apgen::draw::progress_bar::duration(42) == "42s");
    CHECK(apgen::draw::progress_bar::duration(187) == "3m07s");
    CHECK(apgen::draw::progress_bar::duration(4 * 3600 + 18 * 60 + 5) == "4h18m");
  }
}
