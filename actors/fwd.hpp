#pragma once

// Forward declarations of onceflow's types, by the folder that defines
// them, for headers that only name a type (pointers, references, function
// declarations). The typed actor interfaces are in actors/interfaces.hpp.

#include <cstdint>

namespace onceflow {

// -- actors/logic: pure data and decisions -----------------------------------

enum class priority : uint8_t;
enum class event_status : uint8_t;
enum class outcome : uint8_t;
enum class dlq_reason : uint8_t;
enum class settle_kind : uint8_t;
enum class fence_decision : uint8_t;

struct attempt_record;
struct batch_fill;
struct claim_decision;
struct delivery;
struct dispatch_report;
struct dlq_entry;
struct event;
struct event_problem;
struct group_limits;
struct group_status;
struct intake_limits;
struct intake_refusal;
struct priority_weights;
struct retry_policy;
struct submission;
struct validation_limits;
struct validation_result;

class batch_wait;
class group_book;
class lease_table;
class metrics_batch;
class metrics_registry;
class token_bucket;

template <class T>
class priority_queues;

// -- config ------------------------------------------------------------------

struct api_key;
struct group_config;
struct handler_options;
struct http_config;
struct node_config;
struct type_rate_limit;

// -- adapters: the ports -----------------------------------------------------

struct append_result;
struct claim_request;
struct dlq_page;
struct dlq_query;
struct event_listing;
struct event_listing_item;
struct event_listing_query;
struct group_history;
struct group_spec;
struct handler_result;
struct processed_record;
struct settlement;

class handler;
class store;
class store_error;

// -- actors ------------------------------------------------------------------

enum class ec : uint8_t;

struct broadcaster_config;
struct event_history;
struct listener_config;

class handler_registry;

} // namespace onceflow
