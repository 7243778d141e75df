//! `Payment` (id: the order id): a payment requested from the customer,
//! then captured, declined, voided (not paid in time) or refunded.

use es_core::{Aggregate, Apply, Event, Handle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::Cents;

/// The customer was asked to pay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct PaymentRequested {
    /// The order.
    pub order_id: String,
    /// How much, in cents.
    pub amount: Cents,
}

/// The money was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct PaymentCaptured {
    /// The order.
    pub order_id: String,
    /// How much, in cents.
    pub amount: Cents,
}

/// The customer's bank said no.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct PaymentDeclined {
    /// The order.
    pub order_id: String,
    /// The bank's reason.
    pub reason: String,
}

/// The request was withdrawn before it was paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct PaymentVoided {
    /// The order.
    pub order_id: String,
}

/// The money went back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct PaymentRefunded {
    /// The order.
    pub order_id: String,
    /// How much, in cents.
    pub amount: Cents,
}

/// Every event of a payment.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum PaymentEvent {
    /// See [`PaymentRequested`].
    Requested(PaymentRequested),
    /// See [`PaymentCaptured`].
    Captured(PaymentCaptured),
    /// See [`PaymentDeclined`].
    Declined(PaymentDeclined),
    /// See [`PaymentVoided`].
    Voided(PaymentVoided),
    /// See [`PaymentRefunded`].
    Refunded(PaymentRefunded),
}

/// Where a payment is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Not requested.
    #[default]
    None,
    /// Waiting for the customer.
    Requested,
    /// Paid.
    Captured,
    /// Refused by the bank.
    Declined,
    /// Withdrawn.
    Voided,
    /// Paid back.
    Refunded,
}

/// A payment.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Payment", event = PaymentEvent)]
pub struct Payment {
    /// The order.
    pub order_id: String,
    /// How much.
    pub amount: Cents,
    /// Where it is.
    pub status: PaymentStatus,
}

impl Apply<PaymentRequested> for Payment {
    fn apply(&mut self, e: &PaymentRequested) {
        self.order_id.clone_from(&e.order_id);
        self.amount = e.amount;
        self.status = PaymentStatus::Requested;
    }
}
impl Apply<PaymentCaptured> for Payment {
    fn apply(&mut self, _: &PaymentCaptured) {
        self.status = PaymentStatus::Captured;
    }
}
impl Apply<PaymentDeclined> for Payment {
    fn apply(&mut self, _: &PaymentDeclined) {
        self.status = PaymentStatus::Declined;
    }
}
impl Apply<PaymentVoided> for Payment {
    fn apply(&mut self, _: &PaymentVoided) {
        self.status = PaymentStatus::Voided;
    }
}
impl Apply<PaymentRefunded> for Payment {
    fn apply(&mut self, _: &PaymentRefunded) {
        self.status = PaymentStatus::Refunded;
    }
}

/// Why a payment refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The command needs another status.
    #[error("cannot {action} a payment that is {status:?}")]
    WrongStatus {
        /// What was attempted.
        action: &'static str,
        /// Where the payment is.
        status: PaymentStatus,
    },
    /// A payment of another amount than requested.
    #[error("paid {paid}, but {requested} was requested")]
    WrongAmount {
        /// What was paid.
        paid: Cents,
        /// What was requested.
        requested: Cents,
    },
}

/// Asks the customer to pay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPayment {
    /// The order.
    pub order_id: String,
    /// How much.
    pub amount: Cents,
}
/// The customer pays (from the payment provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pay {
    /// How much.
    pub amount: Cents,
}
/// The bank refuses (from the payment provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// Why.
    pub reason: String,
}
/// Withdraws an unpaid request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoidPayment;
/// Pays a captured payment back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundPayment;

impl Payment {
    fn require(&self, status: PaymentStatus, action: &'static str) -> Result<(), PaymentError> {
        if self.status == status {
            Ok(())
        } else {
            Err(PaymentError::WrongStatus {
                action,
                status: self.status,
            })
        }
    }
}

impl Handle<RequestPayment> for Payment {
    type Error = PaymentError;
    fn handle(&self, c: RequestPayment) -> Result<Vec<PaymentEvent>, PaymentError> {
        self.require(PaymentStatus::None, "request")?;
        Ok(vec![
            PaymentRequested {
                order_id: c.order_id,
                amount: c.amount,
            }
            .into(),
        ])
    }
}
impl Handle<Pay> for Payment {
    type Error = PaymentError;
    fn handle(&self, c: Pay) -> Result<Vec<PaymentEvent>, PaymentError> {
        self.require(PaymentStatus::Requested, "pay")?;
        if c.amount != self.amount {
            return Err(PaymentError::WrongAmount {
                paid: c.amount,
                requested: self.amount,
            });
        }
        Ok(vec![
            PaymentCaptured {
                order_id: self.order_id.clone(),
                amount: c.amount,
            }
            .into(),
        ])
    }
}
impl Handle<Decline> for Payment {
    type Error = PaymentError;
    fn handle(&self, c: Decline) -> Result<Vec<PaymentEvent>, PaymentError> {
        self.require(PaymentStatus::Requested, "decline")?;
        Ok(vec![
            PaymentDeclined {
                order_id: self.order_id.clone(),
                reason: c.reason,
            }
            .into(),
        ])
    }
}
impl Handle<VoidPayment> for Payment {
    type Error = PaymentError;
    fn handle(&self, _: VoidPayment) -> Result<Vec<PaymentEvent>, PaymentError> {
        self.require(PaymentStatus::Requested, "void")?;
        Ok(vec![
            PaymentVoided {
                order_id: self.order_id.clone(),
            }
            .into(),
        ])
    }
}
impl Handle<RefundPayment> for Payment {
    type Error = PaymentError;
    fn handle(&self, _: RefundPayment) -> Result<Vec<PaymentEvent>, PaymentError> {
        self.require(PaymentStatus::Captured, "refund")?;
        Ok(vec![
            PaymentRefunded {
                order_id: self.order_id.clone(),
                amount: self.amount,
            }
            .into(),
        ])
    }
}
