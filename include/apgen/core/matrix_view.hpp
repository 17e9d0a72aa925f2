#pragma once
/// \file
/// A non-owning row-major 2-D view (rows x cols over contiguous memory): how a denoiser sees one row's block of
/// scores. Bounds are checked in debug builds only; the shapes themselves are checked once per step by the owner.

#include <cassert>
#include <cstddef>
#include <span>

namespace apgen {

template <class T>
class matrix_view {
public:
  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept : m_data(data), m_rows(rows), m_cols(cols) {}

  [[nodiscard]] constexpr std::size_t rows() const noexcept { return m_rows; }
  [[nodiscard]] constexpr std::size_t cols() const noexcept { return m_cols; }
  [[nodiscard]] constexpr T* data() const noexcept { return m_data; }
  [[nodiscard]] constexpr T& operator()(std::size_t i, std::size_t j) const noexcept {
    assert(i < m_rows && j < m_cols);
    return m_data[i * m_cols + j];
  }
  /// Row i as a span of cols() values.
  [[nodiscard]] constexpr std::span<T> row(std::size_t i) const noexcept {
    assert(i < m_rows);
    return {m_data + i * m_cols, m_cols};
  }
  /// Sets every element (a common first step of a denoiser that writes sparse scores).
  constexpr void fill(T v) const noexcept {
    for (std::size_t k = 0; k < m_rows * m_cols; ++k) m_data[k] = v;
  }

private:
  T* m_data = nullptr;
  std::size_t m_rows = 0;
  std::size_t m_cols = 0;
};

} // namespace apgen
