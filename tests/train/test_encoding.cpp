// Row encodings end to end: a task's encoder runs once per row and step in generation; its features reach the
// model and its allowed sets restrict the token choice; the teacher's records carry the encoding; the trajectory
// format writes and reads it with its schema; a training example reads its features and allowed sets from the
// record; and the model computes the same logits from the example as it did in generation.
#include <apgen/apgen.hpp>
#include <apgen/nn/backward.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/train/loss.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/trajectory_io.hpp>

#include "support/models.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

namespace {

// MASK 0; "a" 1, "b" 2, "c" 3, "d" 4, "e" 5.
apgen::vocabulary letters() {
  return apgen::vocabulary({"a", "b", "c", "d", "e"});
}

// A toy task: feature 0 is the position mod 3, feature 1 whether the position holds MASK; even positions may
// only become "a" or "b" (set 0), odd ones "c", "d" or "e" (set 1).
struct toy_encoder {
  apgen::feature_schema schema() const { return {.feature_vocab_sizes = {3, 2}, .allowed_sets = {{1, 2}, {3, 4, 5}}}; }
  void encode(std::span<const apgen::token_id> row, apgen::row_encoding& out) const {
    out.features.assign(2, std::vector<apgen::token_id>(row.size()));
    out.allowed.resize(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) {
      out.features[0][i] = static_cast<apgen::token_id>(i % 3);
      out.features[1][i] = row[i] == 0 ? 1 : 0;
      out.allowed[i] = static_cast<std::uint16_t>(1 + i % 2);
    }
  }
};

bool obeys_toy_sets(std::span<const apgen::token_id> row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    const bool ok = i % 2 == 0 ? (row[i] == 1 || row[i] == 2) : (row[i] >= 3 && row[i] <= 5);
    if (!ok) return false;
  }
  return true;
}

apgen::canvas masked_rows(const apgen::vocabulary& v, std::size_t rows, std::size_t length) {
  apgen::canvas c(v, rows, length + 2);
  for (std::size_t r = 0; r < rows; ++r) c.assign(r, std::vector<apgen::token_id>(length, v.mask()));
  return c;
}

} // namespace

TEST_SUITE("train") {

  TEST_CASE("encoding: allowed sets restrict the token pass on every backend") {
    const auto v = letters();
    const apgen::testing::hashed_model model{.vocab = v.size()};
    const auto run = [&](auto backend, bool with_encoder) {
      using B = decltype(backend);
      auto c = masked_rows(v, 6, 9);
      apgen::generator_options opt{.seed = 5};
      if (with_encoder) opt.encoder = apgen::row_encoder(toy_encoder{});
      auto gen = apgen::make_generator<void, B>(model, apgen::schedules::top_probability(), opt);
      gen.generate(c);
      std::vector<std::vector<apgen::token_id>> rows;
      for (std::size_t r = 0; r < c.rows(); ++r) rows.emplace_back(c.row(r).begin(), c.row(r).end());
      return rows;
    };
    const auto serial = run(apgen::backends::serial{}, true);
    for (const auto& row : serial) CHECK(obeys_toy_sets(row));
    CHECK(run(apgen::backends::simd{}, true) == serial);
    CHECK(run(apgen::backends::omp{}, true) == serial);
    // Without the encoder the same model breaks the sets somewhere (so the check above can fail).
    bool broken = false;
    for (const auto& row : run(apgen::backends::serial{}, false)) broken = broken || !obeys_toy_sets(row);
    CHECK(broken);
  }

  TEST_CASE("encoding: records carry the encoding, which round-trips through a dataset and reaches the example") {
    const auto v = letters();
    const apgen::row_encoder encoder(toy_encoder{});
    const apgen::testing::hashed_model model{.vocab = v.size()};
    auto c = masked_rows(v, 3, 7);
    auto gen = apgen::make_generator(
        model, apgen::schedules::top_probability(apgen::schedules::unmask_count::fixed_k(2)), {.encoder = encoder});
    const auto records = apgen::train::record_trajectories(gen, c);
    REQUIRE(records.size() >= 6);
    for (const auto& r : records) CHECK(r.encoding == encoder.encode(r.x));

    std::stringstream file;
    {
      apgen::train::trajectory_writer out(file, {v.size(), v.mask(), encoder.schema()});
      for (const auto& r : records) out.write(r);
    }
    std::string header;
    std::getline(file, header);
    CHECK(
        header ==
        R"({"format":"apgen.transitions/2","vocab_size":6,"mask":0,"feature_vocab_sizes":[3,2],"allowed_sets":[[1,2],[3,4,5]]})");
    file.seekg(0);
    apgen::train::trajectory_reader in(file, "mem.jsonl");
    REQUIRE(in.schema());
    CHECK(*in.schema() == encoder.schema());
    std::vector<apgen::train::transition_record> back;
    for (apgen::train::transition_record r; in.next(r);) back.push_back(r);
    CHECK(back == records);

    const auto ex = apgen::train::process_example(back[0], v.mask(), 1.0, 1.0, in.schema());
    CHECK(ex.features == encoder.encode(back[0].x).features);
    CHECK(ex.allowed == encoder.encode(back[0].x).allowed);
    CHECK(ex.schema == in.schema());
    CHECK_THROWS_WITH_AS((void)apgen::train::process_example(back[0], v.mask()),
                         doctest::Contains("pass the feature schema"), apgen::invalid_argument);
  }

  TEST_CASE("encoding: a model with features computes in training what it computed in generation") {
    const auto v = letters();
    const apgen::row_encoder encoder(toy_encoder{});
    apgen::nn::transformer_config cfg{
        .vocab_size = v.size(), .d_model = 16, .n_layers = 2, .n_heads = 2, .d_ff = 24, .feature_vocab_sizes = {3, 2}};
    const auto weights = apgen::nn::transformer_weights::random(cfg, 9, 0.5f);
    apgen::nn::transformer model(weights);
    apgen::canvas c(v, 1, 8);
    c.assign(0, {0, 2, 0, 0, 4, 0});
    const auto enc = apgen::encode_rows(encoder, c);
    apgen::denoiser_output out;
    out.reshape(c, model.heads());
    model.predict(c, apgen::step_context{.encodings = enc, .schema = &encoder.schema()}, out);

    apgen::train::transition_record rec{.x = {0, 2, 0, 0, 4, 0},
                                        .y = {1, -1, 1, 3, -1, 3},
                                        .remask = std::vector<std::uint8_t>(6),
                                        .insert = std::vector<std::uint8_t>(6),
                                        .del = std::vector<std::uint8_t>(6),
                                        .next = {1, 2, 1, 3, 4, 3},
                                        .encoding = enc[0]};
    const auto ex = apgen::train::process_example(rec, v.mask(), 1.0, 1.0,
                                                  std::make_shared<const apgen::feature_schema>(encoder.schema()));
    apgen::nn::row_tape<float> tape;
    apgen::nn::forward_row(weights, std::span<const apgen::token_id>(ex.input), ex.features, tape);
    const auto logits = out.tokens(0);
    double worst = 0;
    for (std::size_t i = 0; i < 6; ++i) {
      if (c.row(0)[i] != v.mask()) continue; // decoded positions are pinned in generation
      for (std::size_t t = 1; t < v.size(); ++t)
        worst = std::max(worst, std::abs(static_cast<double>(logits(i, t)) -
                                         tape.logits(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(t))));
    }
    CHECK(worst < 1e-4);
    // Other features give other logits: the comparison sees them.
    auto shifted = ex.features;
    for (auto& f : shifted[0]) f = (f + 1) % 3;
    apgen::nn::forward_row(weights, std::span<const apgen::token_id>(ex.input), shifted, tape);
    CHECK(std::abs(static_cast<double>(logits(0, 1)) - tape.logits(0, 1)) > 1e-3);
  }

  TEST_CASE("encoding: bad encoders, schemas and encoded records are refused by name") {
    const auto v = letters();
    const apgen::testing::hashed_model model{.vocab = v.size()};
    struct short_encoder {
      apgen::feature_schema schema() const { return {.feature_vocab_sizes = {3}}; }
      void encode(std::span<const apgen::token_id> row, apgen::row_encoding& out) const {
        out.features.assign(1, std::vector<apgen::token_id>(row.size() - 1));
      }
    };
    struct mask_allowed {
      apgen::feature_schema schema() const { return {.allowed_sets = {{0, 1}}}; }
      void encode(std::span<const apgen::token_id>, apgen::row_encoding& out) const { out.allowed.clear(); }
    };
    struct unknown_class {
      apgen::feature_schema schema() const { return {.allowed_sets = {{1}}}; }
      void encode(std::span<const apgen::token_id> row, apgen::row_encoding& out) const {
        out.allowed.assign(row.size(), 2);
      }
    };
    auto c = masked_rows(v, 2, 4);
    auto g1 = apgen::make_generator(model, apgen::schedules::top_probability(),
                                    {.encoder = apgen::row_encoder(short_encoder{})});
    CHECK_THROWS_WITH_AS(
        g1.generate(c),
        doctest::Contains("generator: row 0, step 0: row encoder: feature 0 has 3 positions, the row has 4"),
        apgen::shape_mismatch);
    auto g2 = apgen::make_generator(model, apgen::schedules::top_probability(),
                                    {.encoder = apgen::row_encoder(mask_allowed{})});
    CHECK_THROWS_WITH_AS(g2.generate(c), doctest::Contains("holds the MASK id 0"), apgen::invalid_argument);
    auto g3 = apgen::make_generator(model, apgen::schedules::top_probability(),
                                    {.encoder = apgen::row_encoder(unknown_class{})});
    CHECK_THROWS_WITH_AS(g3.generate(c), doctest::Contains("allowed class 2 of position 0 names no set"),
                         apgen::invalid_token);
    struct unsorted {
      apgen::feature_schema schema() const { return {.allowed_sets = {{2, 1}}}; }
      void encode(std::span<const apgen::token_id>, apgen::row_encoding&) const {}
    };
    CHECK_THROWS_WITH_AS(apgen::row_encoder(unsorted{}), doctest::Contains("not sorted"), apgen::invalid_argument);

    // A dataset whose record has a feature id outside the header's schema, or an encoding the header does not have.
    const auto expect_error = [](const std::string& text, const char* what) {
      const auto read_all = [&] {
        std::stringstream in(text);
        apgen::train::trajectory_reader r(in, "mem.jsonl");
        for (apgen::train::transition_record rec; r.next(rec);) {
        }
      };
      CHECK_THROWS_WITH_AS(read_all(), doctest::Contains(what), apgen::parse_error);
    };
    const std::string header = R"({"format":"apgen.transitions/2","vocab_size":6,"mask":0,"feature_vocab_sizes":[3]})";
    const std::string record =
        R"({"mask":0,"x":[0,0],"y":[1,1],"remask":[0,0],"insert":[0,0],"delete":[0,0],"next":[1,1])";
    expect_error(header + "\n" + record + R"(,"features":[[0,3]]})",
                 "mem.jsonl line 2: feature 0 of position 1 is 3, outside [0, 3)");
    expect_error(header + "\n" + record + R"(})", "mem.jsonl line 2: 0 feature rows, the schema has 1 features");
    expect_error(header + "\n" + record + R"(,"features":[[0]]})",
                 "mem.jsonl line 2: feature 0 has 1 positions, the row has 2");
    expect_error(R"({"format":"apgen.transitions/1","vocab_size":6,"mask":0,"feature_vocab_sizes":[3]})",
                 "carries no feature schema");
    expect_error(R"({"format":"apgen.transitions/2","vocab_size":6,"mask":0,"allowed_sets":[[0]]})",
                 "holds the MASK id");

    std::stringstream sink;
    apgen::train::trajectory_writer w(sink, {v.size(), v.mask()});
    apgen::train::transition_record rec{.x = {0}, .y = {1}, .remask = {0}, .insert = {0}, .del = {0}, .next = {1}};
    rec.encoding.features = {{0}};
    CHECK_THROWS_WITH_AS(w.write(rec), doctest::Contains("record 0: 1 feature rows, the schema has 0 features"),
                         apgen::invalid_argument);
  }

  TEST_CASE("encoding: the token loss normalises over each position's allowed set, as the token pass chooses") {
    const auto v = letters();
    const toy_encoder toy;
    const auto schema = toy.schema();
    apgen::nn::transformer_config cfg{.vocab_size = v.size(), .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 24};
    const auto weights = apgen::nn::basic_transformer_weights<double>::random(cfg, 4, 0.5);
    const std::vector<apgen::token_id> x{0, 0, 0, 0, 0};
    const std::vector<apgen::token_id> targets{2, 4, -1, 5, 1};
    const std::vector<std::uint16_t> allowed{1, 2, 0, 2, 0}; // set 0 = {a, b}, set 1 = {c, d, e}, 0 = any but MASK
    apgen::nn::row_tape<double> tape;
    apgen::nn::forward_row(weights, std::span<const apgen::token_id>(x), {}, tape);
    apgen::nn::basic_matrix<double> dl, dc;
    const apgen::train::row_targets y{.tokens = targets, .allowed = allowed, .schema = &schema};
    const auto loss = apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl, dc);

    // The loss by hand: each supervised position's log-softmax over its candidates.
    const auto candidates = [&](std::size_t i) {
      std::vector<std::size_t> ids;
      for (std::size_t t = 1; t < v.size(); ++t)
        if (schema.allows(allowed[i], static_cast<apgen::token_id>(t))) ids.push_back(t);
      return ids;
    };
    double expected = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (targets[i] < 0) continue;
      double z = 0;
      for (const auto t : candidates(i))
        z += std::exp(tape.logits(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(t)));
      expected += std::log(z) - tape.logits(static_cast<Eigen::Index>(i), targets[i]);
    }
    expected /= 4;
    CHECK(loss.token == doctest::Approx(expected).epsilon(1e-12));
    // No gradient reaches an id the position may not take (nor MASK), and each row's gradient sums to 0.
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto ids = candidates(i);
      double sum = 0;
      for (std::size_t t = 0; t < v.size(); ++t) {
        const double g = dl(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(t));
        sum += g;
        if (targets[i] < 0 || std::find(ids.begin(), ids.end(), t) == ids.end()) CHECK(g == 0.0);
      }
      CHECK(std::abs(sum) < 1e-12);
    }
    // The gradient is the loss's: a central difference on one logit inside a set.
    const double h = 1e-6;
    auto plus = tape, minus = tape;
    plus.logits(1, 3) += h;
    minus.logits(1, 3) -= h;
    apgen::nn::basic_matrix<double> scratch_l, scratch_c;
    const double numeric = (apgen::train::row_loss_and_grad(cfg, plus, y, {}, scratch_l, scratch_c).token -
                            apgen::train::row_loss_and_grad(cfg, minus, y, {}, scratch_l, scratch_c).token) /
                           (2 * h);
    CHECK(dl(1, 3) == doctest::Approx(numeric).epsilon(1e-6));
    // Unrestricted, the same logits give another loss (the sets matter), and a target outside its set is refused.
    const auto free = apgen::train::row_loss_and_grad(cfg, tape, {.tokens = targets}, {}, dl, dc);
    CHECK(free.token > loss.token);
    const std::vector<apgen::token_id> outside{3, 4, -1, 5, 1};
    CHECK_THROWS_WITH_AS((void)apgen::train::row_loss_and_grad(
                             cfg, tape, {.tokens = outside, .allowed = allowed, .schema = &schema}, {}, dl, dc),
                         doctest::Contains("loss: target 3 at position 0 is outside its allowed set 0"),
                         apgen::invalid_token);
    CHECK_THROWS_WITH_AS(
        (void)apgen::train::row_loss_and_grad(cfg, tape, {.tokens = targets, .allowed = allowed}, {}, dl, dc),
        doctest::Contains("names no set"), apgen::invalid_token);
  }

} // TEST_SUITE
