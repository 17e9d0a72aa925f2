// apgen-plot: draws columns of a CSV file (a training curve, say) as an SVG line chart (draw/chart.hpp).
//
// usage: apgen-plot FILE.csv --x COL --y COL[,COL...] [--y2 COL[,COL...]] [--log-y] [--title TEXT]
//                   [--y-label TEXT] [--y2-label TEXT] [--out FILE.svg]
//   FILE.csv  a header line of column names, then one row per line; an empty or non-numeric cell is a gap
//   --x       the column along the horizontal axis
//   --y       columns against the left axis; --y2 columns against a right axis of their own scale
//   --log-y   a logarithmic left axis
//   --out     where the SVG goes (default: FILE.svg beside the CSV)
// Example: apgen-plot sudoku-run/curve.csv --x step --y token_loss,remask_loss --y2 dev_steps_exact --log-y
#include <apgen/draw/chart.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "apgen-plot: " << why
            << "\nusage: apgen-plot FILE.csv --x COL --y COL[,COL...] [--y2 COL[,COL...]] [--log-y] [--title TEXT] "
               "[--y-label TEXT] [--y2-label TEXT] [--out FILE.svg]\n";
  std::exit(2);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, sep)) out.push_back(cell);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

struct table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;
  [[nodiscard]] const std::vector<double>& column(const std::string& name, const std::string& file) const {
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == name) return columns[k];
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument(file + " has no column \"" + name + "\" (it has: " + known + ")");
  }
};

table read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read " + path);
  table t;
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument(path + " is empty");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  t.names = split(line, ',');
  t.columns.resize(t.names.size());
  for (std::size_t row = 2; std::getline(in, line); ++row) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cells = split(line, ',');
    if (cells.size() > t.names.size())
      throw std::invalid_argument(path + ":" + std::to_string(row) + ": " + std::to_string(cells.size()) +
                                  " cells under a header of " + std::to_string(t.names.size()));
    for (std::size_t k = 0; k < t.names.size(); ++k) {
      double v = std::numeric_limits<double>::quiet_NaN();
      if (k < cells.size() && !cells[k].empty()) {
        char* end = nullptr;
        const double x = std::strtod(cells[k].c_str(), &end);
        if (*end == '\0') v = x;
      }
      t.columns[k].push_back(v);
    }
  }
  return t;
}

} // namespace

int main(int argc, char** argv) try {
  std::string csv, x, out, ys, y2s;
  apgen::draw::chart_options o;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--log-y") {
      o.log_y = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      if (!csv.empty()) usage("one CSV file, got \"" + csv + "\" and \"" + a + "\"");
      csv = a;
      continue;
    }
    if (k + 1 >= argc) usage(a + " needs a value");
    const std::string v = argv[++k];
    if (a == "--x")
      x = v;
    else if (a == "--y")
      ys = v;
    else if (a == "--y2")
      y2s = v;
    else if (a == "--title")
      o.title = v;
    else if (a == "--y-label")
      o.y_label = v;
    else if (a == "--y2-label")
      o.y2_label = v;
    else if (a == "--out")
      out = v;
    else
      usage("unknown option " + a);
  }
  if (csv.empty()) usage("no CSV file");
  if (x.empty() || ys.empty()) usage("--x and --y are needed");
  if (out.empty())
    out = (csv.size() > 4 && csv.substr(csv.size() - 4) == ".csv" ? csv.substr(0, csv.size() - 4) : csv) + ".svg";
  const table t = read_csv(csv);
  std::vector<apgen::draw::series> all;
  for (const auto& name : split(ys, ',')) all.push_back({name, t.column(x, csv), t.column(name, csv), false});
  if (!y2s.empty())
    for (const auto& name : split(y2s, ',')) all.push_back({name, t.column(x, csv), t.column(name, csv), true});
  if (o.x_label.empty()) o.x_label = x;
  std::ofstream f(out);
  if (!f) throw std::invalid_argument("cannot write " + out);
  apgen::draw::write_line_chart(f, all, o);
  if (!f) throw std::invalid_argument("writing " + out + " failed");
  std::cout << "apgen-plot: " << all.size() << " series, " << t.columns.front().size() << " rows of " << csv << " -> "
            << out << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "apgen-plot: " << e.what() << "\n";
  return 1;
}
