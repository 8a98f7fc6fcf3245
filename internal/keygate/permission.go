package keygate

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Audit actions on an organization's permissions.
const (
	AuditPermissionCreated = "permission.created"
	// AuditPermissionDeleted names, in its target, how many keys the
	// permission was removed from.
	AuditPermissionDeleted = "permission.deleted"
)

// Limits of an organization's permissions.
const (
	MaxPermissionName        = 100
	MaxPermissionDescription = 500
	MaxPermissionsPerOrg     = 100
)

// Permission is a name an organization defines and grants to its keys
// besides their scopes (invoices:write), for the services behind Keygate
// to check.
type Permission struct {
	ID          int64
	Name        string
	Description string
	CreatedAt   time.Time
	// KeyCount is how many of the organization's keys hold it, revoked
	// ones included.
	KeyCount int
}

// PermissionCreate is what defines a permission.
type PermissionCreate struct {
	Name        string
	Description string
}

// Validate trims the fields and checks them.
func (c *PermissionCreate) Validate() *ValidationErrors {
	var v ValidationErrors
	c.Name = strings.TrimSpace(c.Name)
	c.Description = strings.TrimSpace(c.Description)
	if msg := permissionNameError(c.Name); msg != "" {
		v.Add("name", msg)
	}
	if utf8.RuneCountInString(c.Description) > MaxPermissionDescription {
		v.Add("description", fmt.Sprintf("Description must be at most %d characters.", MaxPermissionDescription))
	}
	return &v
}

// permissionNameError says what is wrong with a permission name, "" if
// nothing is.
func permissionNameError(name string) string {
	switch {
	case name == "":
		return "Name is required."
	case len(name) > MaxPermissionName:
		return fmt.Sprintf("Name must be at most %d characters.", MaxPermissionName)
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789:._-") != "":
		return "Use lowercase letters, digits and : . _ - only."
	case name == string(ScopeRead) || name == string(ScopeWrite) || name == string(ScopeAdmin):
		return fmt.Sprintf("%q is a built-in scope. Choose another name.", name)
	}
	return ""
}

// PermissionExistsError is the error for a name the organization already
// defines.
func PermissionExistsError(name string) *Error {
	return FieldError("name", fmt.Sprintf("This organization already has a permission named %s.", name))
}

// UnknownPermissionError is the error for granting a name the organization
// does not define.
func UnknownPermissionError(name string) *Error {
	return FieldError("permissions", fmt.Sprintf("Unknown permission %q. Define it in Settings > Permissions first.", name))
}

// PermissionService manages an organization's permissions, acting as the
// user in the context. Owner or Admin.
type PermissionService interface {
	// FindPermissions lists the organization's permissions by name, each
	// with the number of keys holding it. Returns ENOTFOUND, EFORBIDDEN.
	FindPermissions(ctx context.Context, orgID string) ([]*Permission, error)
	// CreatePermission defines a permission. Returns ENOTFOUND,
	// EFORBIDDEN, EINVALID (also for a name taken or past the limit).
	CreatePermission(ctx context.Context, orgID string, in *PermissionCreate) (*Permission, error)
	// DeletePermission deletes a permission and removes it from every
	// key holding it; the result carries how many did. Returns ENOTFOUND,
	// EFORBIDDEN.
	DeletePermission(ctx context.Context, orgID, name string) (*Permission, error)
}
