#pragma once
/// \file
/// A non-owning row-major 2-D view (rows x cols over contiguous memory): how a denoiser sees one row's block of
/// scores. Element and row access check their bounds in every build and throw apgen::invalid_argument naming
/// the index (a denoiser writing past its row's block would otherwise corrupt the next row silently); data()
/// is the unchecked way in for kernels that have checked their shapes.

#include <apgen/core/errors.hpp>

#include <cstddef>
#include <span>

namespace apgen {

template <class T>
class matrix_view {
public:
  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
      : m_data(data), m_rows(rows), m_cols(cols) {}

  [[nodiscard]] constexpr std::size_t rows() const noexcept { return m_rows; }
  [[nodiscard]] constexpr std::size_t cols() const noexcept { return m_cols; }
  [[nodiscard]] constexpr T* data() const noexcept { return m_data; }
  [[nodiscard]] constexpr T& operator()(std::size_t i, std::size_t j) const {
    if (i >= m_rows || j >= m_cols) [[unlikely]]
      detail::fail<invalid_argument>("matrix_view: element (", i, ", ", j, ") is outside the ", m_rows, " x ", m_cols,
                                     " view");
    return m_data[i * m_cols + j];
  }
  /// Row i as a span of cols() values.
  [[nodiscard]] constexpr std::span<T> row(std::size_t i) const {
    if (i >= m_rows) [[unlikely]]
      detail::fail<invalid_argument>("matrix_view: row ", i, " is outside the ", m_rows, " x ", m_cols, " view");
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
