package sqlstore

import (
	"context"
	"time"

	"circly"
)

// CreateUpload records an image already stored under u.ID.
func (s *Store) CreateUpload(ctx context.Context, u circly.Upload) (circly.Upload, error) {
	u.CreatedAt = s.Now()
	err := s.conn(ctx).Exec(`INSERT INTO uploads (id, user_id, type, content_type, size, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.UserID, u.Type, u.ContentType, u.Size, u.CreatedAt).Error
	if isConstraintError(err) {
		return circly.Upload{}, circly.ErrUnauthorized // the account went away meanwhile
	}
	return u, err
}

// GetUpload reads an image's metadata (anyone with the id may fetch the image).
func (s *Store) GetUpload(ctx context.Context, id string) (circly.Upload, error) {
	var row struct {
		ID          string
		UserID      *string
		Type        string
		ContentType string
		Size        int64
		CreatedAt   time.Time
	}
	err := s.conn(ctx).Raw(`SELECT id, user_id, type, content_type, size, created_at FROM uploads WHERE id = ?`, id).Take(&row).Error
	if err != nil {
		return circly.Upload{}, notFound(err, circly.ErrNotFound)
	}
	u := circly.Upload{ID: row.ID, Type: row.Type, ContentType: row.ContentType, Size: row.Size, CreatedAt: row.CreatedAt.UTC()}
	if row.UserID != nil {
		u.UserID = *row.UserID
	}
	return u, nil
}

// DeleteUploadsOf removes the metadata of every image the user uploaded and returns their ids,
// so the caller can remove the files (an account's deletion takes its images with it).
func (s *Store) DeleteUploadsOf(ctx context.Context, userID string) ([]string, error) {
	ids := []string{}
	err := s.conn(ctx).Raw(`DELETE FROM uploads WHERE user_id = ? RETURNING id`, userID).Scan(&ids).Error
	return ids, err
}
