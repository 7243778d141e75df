//! `ProcessFixture` on the shop's checkout: every path of the process, and
//! the failure messages.

use std::time::Duration;

use es_core::process::Sent;
use es_testing::ProcessFixture;
use es_testing::process::shop::*;

fn placed(approve_within_ms: Option<u64>) -> OrderPlaced {
    OrderPlaced {
        order_id: "o-1".into(),
        sku: "sku-1".into(),
        quantity: 2,
        approve_within_ms,
    }
}

fn reserve() -> ReserveStock {
    ReserveStock {
        order_id: "o-1".into(),
        quantity: 2,
    }
}

#[test]
fn a_placed_order_reserves_its_stock() {
    ProcessFixture::<Checkout>::new()
        .when("Order-o-1", placed(None))
        .then_expect_commands([Sent::new("sku-1", reserve())])
        .then_expect_scheduled([])
        .then_expect_not_completed()
        .then_expect_state(|s| s.step == CheckoutStep::Reserving && s.order_id == "o-1");
}

#[test]
fn reserved_stock_confirms_and_completes() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(None)])
        .when(
            "Stock-sku-1",
            StockReserved {
                order_id: "o-1".into(),
                quantity: 2,
            },
        )
        .then_expect_commands([Sent::new("o-1", ConfirmOrder)])
        .then_expect_completed();
}

#[test]
fn a_rejected_reservation_cancels_the_order() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(None)])
        .when_rejected("sku-1", reserve(), "insufficient stock")
        .then_expect_commands([Sent::new(
            "o-1",
            CancelOrder {
                reason: "insufficient stock".into(),
            },
        )])
        .then_expect_completed();
}

#[test]
fn an_approval_window_schedules_a_deadline_relative_to_the_event() {
    ProcessFixture::<Checkout>::new()
        .when("Order-o-1", placed(Some(90_000)))
        .then_expect_no_commands()
        .then_expect_scheduled([(CheckoutDeadline::ApprovalDue, Duration::from_secs(90))]);
}

#[test]
fn a_missed_approval_cancels_the_order() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(Some(1_000))])
        .when_deadline(CheckoutDeadline::ApprovalDue)
        .then_expect_commands([Sent::new(
            "o-1",
            CancelOrder {
                reason: "approval timed out".into(),
            },
        )])
        .then_expect_completed();
}

#[test]
fn an_approval_cancels_the_deadline_and_reserves() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(Some(1_000))])
        .when(
            "Order-o-1",
            OrderApproved {
                order_id: "o-1".into(),
            },
        )
        .then_expect_cancelled([CheckoutDeadline::ApprovalDue])
        .then_expect_commands([Sent::new("sku-1", reserve())]);
}

#[test]
fn a_cancelled_deadline_is_dropped_as_the_runner_drops_it() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(Some(1_000))])
        .given(
            "Order-o-1",
            [OrderApproved {
                order_id: "o-1".into(),
            }],
        )
        .when_deadline(CheckoutDeadline::ApprovalDue)
        .then_expect_nothing();
}

#[test]
fn a_completed_instance_ignores_later_events() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(None)])
        .given(
            "Stock-sku-1",
            [StockReserved {
                order_id: "o-1".into(),
                quantity: 2,
            }],
        )
        .when(
            "Stock-sku-1",
            StockReserved {
                order_id: "o-1".into(),
                quantity: 2,
            },
        )
        .then_expect_nothing();
}

#[test]
#[should_panic(
    expected = "then_expect_commands failed for process `checkout`: other commands than expected"
)]
fn a_wrong_command_fails_with_a_diff() {
    ProcessFixture::<Checkout>::new()
        .when("Order-o-1", placed(None))
        .then_expect_commands([Sent::new("sku-2", reserve())]);
}

#[test]
fn the_diff_names_the_target_and_the_differing_line() {
    let panic = std::panic::catch_unwind(|| {
        ProcessFixture::<Checkout>::new()
            .when("Order-o-1", placed(None))
            .then_expect_commands([Sent::new(
                "sku-1",
                ReserveStock {
                    order_id: "o-1".into(),
                    quantity: 3,
                },
            )]);
    })
    .expect_err("a wrong quantity must fail");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("-         \"quantity\": 3"), "{message}");
    assert!(message.contains("+         \"quantity\": 2"), "{message}");
    assert!(message.contains("to Stock `sku-1`"), "{message}");
    assert!(message.contains("when Order-o-1: OrderPlaced"), "{message}");
}

#[test]
#[should_panic(expected = "belongs to instance `o-2`, but the fixture follows instance `o-1`")]
fn events_of_another_instance_are_refused() {
    ProcessFixture::<Checkout>::new()
        .given("Order-o-1", [placed(None)])
        .when(
            "Stock-sku-1",
            StockReserved {
                order_id: "o-2".into(),
                quantity: 2,
            },
        );
}

#[test]
#[should_panic(expected = "then_expect_completed failed")]
fn an_open_instance_fails_expect_completed() {
    ProcessFixture::<Checkout>::new()
        .when("Order-o-1", placed(None))
        .then_expect_completed();
}
