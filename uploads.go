package circly

import "time"

// UploadTypes are what an uploaded image is for.
var UploadTypes = []string{"result_card", "profile_image"}

// Upload is the metadata of a stored image; the bytes live in the storage backend under ID.
type Upload struct {
	ID          string
	UserID      string
	Type        string
	ContentType string
	Size        int64
	CreatedAt   time.Time
}
