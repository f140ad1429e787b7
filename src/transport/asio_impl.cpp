// Asio and Beast are header-only libraries; with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (set in CMakeLists.txt) their implementation is compiled
// once, here, instead of in every file that includes them.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
