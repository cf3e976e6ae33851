// Package fault gives errors a disposition: what the caller should do about them.
//
// Every error that crosses a package boundary in apiguard answers one question for the
// function host: retry the invocation (a transient fault), reject the input (the caller
// sent something wrong and retrying cannot help), or set the item aside (one bad record
// in a batch: record why and carry on with the rest).
package fault

import (
	"errors"
	"fmt"
	"net/http"
)

// Disposition is what to do with a failed operation.
type Disposition int

const (
	// Retry means the fault is transient: fail the invocation so the host redelivers.
	Retry Disposition = iota
	// Reject means the input is wrong: answer 4xx, store nothing.
	Reject
	// SetAside means one item of a batch is bad: record the reason, process the rest.
	SetAside
)

func (d Disposition) String() string {
	switch d {
	case Reject:
		return "reject"
	case SetAside:
		return "set_aside"
	default:
		return "retry"
	}
}

// Error carries a disposition and, for rejections, the HTTP status to answer with.
type Error struct {
	Disposition Disposition
	Status      int
	// Field names the input that is wrong, for a rejection of one field.
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Transient marks err as worth retrying.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Disposition: Retry, Status: http.StatusServiceUnavailable, Err: err}
}

// Rejected marks err as the caller's fault, answered with status (400 when zero).
func Rejected(status int, err error) error {
	if err == nil {
		return nil
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	return &Error{Disposition: Reject, Status: status, Err: err}
}

// Invalid rejects one named input field (400), saying what is wrong with it.
func Invalid(field, format string, args ...any) error {
	return &Error{Disposition: Reject, Status: http.StatusBadRequest, Field: field, Err: fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))}
}

// NotFound rejects a request for something that does not exist (404).
func NotFound(format string, args ...any) error {
	return &Error{Disposition: Reject, Status: http.StatusNotFound, Err: fmt.Errorf(format, args...)}
}

// Conflict rejects a request that the current state does not allow (409).
func Conflict(format string, args ...any) error {
	return &Error{Disposition: Reject, Status: http.StatusConflict, Err: fmt.Errorf(format, args...)}
}

// FieldOf returns the input field a rejection names, or "".
func FieldOf(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// Aside marks err as affecting one item of a batch only.
func Aside(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Disposition: SetAside, Status: http.StatusUnprocessableEntity, Err: err}
}

// Of returns the disposition of err. Errors without one are treated as transient:
// an unknown failure is retried by the host (bounded by its own retry policy)
// rather than silently dropped.
func Of(err error) Disposition {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Disposition
	}
	return Retry
}

// StatusOf returns the HTTP status that answers err: the rejection's status, or 503
// for transient faults so callers such as Logic Apps retry.
func StatusOf(err error) int {
	var fe *Error
	if errors.As(err, &fe) && fe.Status != 0 {
		return fe.Status
	}
	return http.StatusServiceUnavailable
}
