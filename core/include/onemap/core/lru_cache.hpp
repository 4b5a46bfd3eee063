#pragma once
// A least-recently-used map bounded in bytes: the one LRU of onemap (tile cache, glyph ranges).
// Not thread-safe: its owner holds a lock around it.
//
// The budget counts what an entry really costs the heap: the value's own bytes (given by the
// caller), the key's allocation, and the list node and hash-map slot that index it — so that a
// cache of many small entries cannot hold several times its budget.
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace onemap::core {

template <typename Value>
class lru_cache {
public:
    explicit lru_cache(std::size_t max_bytes) : m_max_bytes(max_bytes) {}
    lru_cache(const lru_cache&) = delete; // the index points into the list
    lru_cache& operator=(const lru_cache&) = delete;
    lru_cache(lru_cache&&) = delete;
    lru_cache& operator=(lru_cache&&) = delete;
    ~lru_cache() = default;

    /// The value of `key`, made most recent; nullptr when absent.
    const Value* get(std::string_view key)
    {
        const auto it = m_index.find(key);
        if (it == m_index.end()) {
            return nullptr;
        }
        m_entries.splice(m_entries.begin(), m_entries, it->second);
        return &it->second->value;
    }

    /// The value of `key` without touching its recency; nullptr when absent.
    const Value* peek(std::string_view key) const
    {
        const auto it = m_index.find(key);
        return it == m_index.end() ? nullptr : &it->second->value;
    }

    bool contains(std::string_view key) const { return m_index.count(key) != 0; }

    /// Inserts or replaces `key` as the most recent entry, then evicts the least recent ones
    /// until the budget holds; returns how many were evicted. An entry larger than the whole
    /// budget is not kept.
    std::size_t put(std::string key, Value value, std::size_t value_bytes)
    {
        erase(key);
        const std::size_t bytes = value_bytes + cost_of_key(key);
        if (bytes > m_max_bytes) {
            return 0;
        }
        m_entries.push_front(entry{std::move(key), std::move(value), bytes});
        m_index.emplace(m_entries.front().key, m_entries.begin());
        m_bytes += bytes;
        std::size_t evicted = 0;
        while (m_bytes > m_max_bytes) {
            erase(m_entries.back().key);
            ++evicted;
        }
        return evicted;
    }

    bool erase(std::string_view key)
    {
        const auto it = m_index.find(key);
        if (it == m_index.end()) {
            return false;
        }
        const auto node = it->second;
        m_index.erase(it);
        m_bytes -= node->bytes;
        m_entries.erase(node);
        return true;
    }

    /// Removes every entry for which `pred(key, value)` holds; returns how many.
    template <typename Pred>
    std::size_t erase_if(Pred pred)
    {
        std::size_t n = 0;
        for (auto it = m_entries.begin(); it != m_entries.end();) {
            const auto next = std::next(it);
            if (pred(std::as_const(it->key), std::as_const(it->value))) {
                erase(it->key);
                ++n;
            }
            it = next;
        }
        return n;
    }

    /// Calls `f(key, value)` for every entry, most recent first.
    template <typename F>
    void for_each(F f) const
    {
        for (const auto& e : m_entries) {
            f(e.key, e.value);
        }
    }

    std::size_t bytes() const noexcept { return m_bytes; }
    std::size_t size() const noexcept { return m_index.size(); }
    std::size_t max_bytes() const noexcept { return m_max_bytes; }

    /// What an entry costs besides its value: the key's heap block (none when it fits the
    /// small-string buffer), a list node and a hash-map node with its bucket.
    static std::size_t cost_of_key(const std::string& key) noexcept
    {
        const std::size_t key_heap = key.capacity() > SSO_CAPACITY ? round_up(key.capacity() + 1) : 0;
        return key_heap + round_up(sizeof(entry) + 2 * sizeof(void*)) +
               round_up(sizeof(std::string_view) + sizeof(void*) * 3) + sizeof(void*);
    }

private:
    struct entry {
        std::string key;
        Value value;
        std::size_t bytes;
    };
    // glibc's malloc hands out 16-byte multiples with an 8-byte header.
    static constexpr std::size_t round_up(std::size_t n) noexcept { return (n + 8 + 15) / 16 * 16; }
    static constexpr std::size_t SSO_CAPACITY = 15;

    std::size_t m_max_bytes;
    std::size_t m_bytes = 0;
    std::list<entry> m_entries; // most recent first
    std::unordered_map<std::string_view, typename std::list<entry>::iterator> m_index; // views of entry::key
};

} // namespace onemap::core
