package views

// StepUp is the "Confirm it's you" dialog shown before a dangerous action
// when the session has not authenticated recently.
type StepUp struct {
	// Action is where the dialog posts: the action being confirmed.
	Action string
	// Sealed carries the action's form, encrypted and signed.
	Sealed string
	Form   Form
	// Code asks for a code from the authenticator app; Password for the
	// password of a person without a second factor.
	Code, Password bool
	// Passkey offers the person's passkey.
	Passkey bool
	// SSO lists the identity providers that can sign the person in again,
	// for people with neither a password nor a second factor.
	SSO []SSOButton
	// Confirmed says the provider signed the person in again: the form
	// only needs sending.
	Confirmed bool
	// Cancel is where "Cancel" leads.
	Cancel string
}
